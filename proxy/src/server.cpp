#include "client_session.hpp"
#include "io_types.hpp"
#include "listening_socket.hpp"
#include "session_host.hpp"
#include "smtp_replies.hpp"
#include "upstream_pool.hpp"

#include <relayguard/proxy/client_rate_tracker.hpp>
#include <relayguard/proxy/event_log.hpp>
#include <relayguard/proxy/metrics.hpp>
#include <relayguard/proxy/server.hpp>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace relayguard::proxy {
namespace server_detail {

// Pooled buffers: one block holds a command line, a rebuilt EHLO reply, or a step of message data
// (the DATA scanner may double its input, so a step is half a block).
constexpr std::size_t buffer_block_size = 16 * 1024;
// Returned blocks kept for reuse; beyond that they go back to the allocator, so a burst does not pin
// memory for good.
constexpr std::size_t idle_buffer_blocks = 64;
// How long to pause accepting after the process ran out of descriptors (EMFILE), as nginx does.
constexpr std::chrono::milliseconds accept_pause{100};
// The listen backlog, explicit rather than the C library's SOMAXCONN (asio's max_listen_connections):
// glibc's is 4096 but musl's is 128, and with 128 a burst of a few hundred connections (a spam run,
// clients reconnecting after an outage) overflows the queue and the kernel drops the surplus
// handshakes. The kernel caps it at net.core.somaxconn (4096 by default since Linux 5.4).
constexpr int listen_backlog = 4096;
// Session deadlines are checked by one sweep over the sessions, at the earliest deadline but never more
// often than this: a time-out may fire this much late, and a flood of deadlines cannot turn the sweep
// (linear in the sessions) into a busy loop.
constexpr std::chrono::milliseconds min_sweep_interval{50};

policy::IpAddress to_ip_address(const asio::ip::address& address) {
    if (address.is_v4()) {
        return policy::IpAddress::from_v4(address.to_v4().to_bytes());
    }
    return policy::IpAddress::from_v6(address.to_v6().to_bytes()); // folds ::ffff:a.b.c.d to IPv4
}

} // namespace server_detail

// Sessions hold the Impl by shared_ptr, so it outlives every one of them whatever the order of
// destruction at exit (sessions may die only when the io_context destroys their pending handlers).
class Server::Impl final : public SessionHost, public std::enable_shared_from_this<Impl> {
public:
    Impl(asio::io_context& io, std::shared_ptr<const policy::Config> config, std::string hostname,
         TlsContexts tls, EventLog& log, Metrics& metrics)
        : io_(io), config_(std::move(config)), tls_(std::move(tls)), hostname_(std::move(hostname)),
          log_(log), metrics_(metrics),
          pool_(server_detail::buffer_block_size, server_detail::idle_buffer_blocks),
          auth_failures_(std::make_unique<AuthFailureTracker>(
              config_->auth.max_failures, config_->auth.lockout, config_->limits.client_ipv6_prefix)),
          connection_rates_(std::make_unique<ClientRateTracker>(config_->limits.rate_window,
                                                                config_->limits.client_ipv6_prefix)),
          mail_rates_(config_->limits),
          password_checker_([&io](std::function<void()> job) { asio::post(io, std::move(job)); }),
          upstream_pool_(std::make_shared<UpstreamPool>(io, pool_, log, metrics)), shutdown_timer_(io),
          sweep_timer_(io) {
        settings_ =
            std::make_shared<const SessionSettings>(config_, tls_.listeners, tls_.upstream, hostname_);
    }

    std::vector<std::string> set_listeners(const std::vector<ListenerSpec>& specs);
    void start();
    void shutdown(std::function<void()> drained);
    void close_all();
    void use_config(std::shared_ptr<const policy::Config> config, TlsContexts tls, std::string hostname);
    std::size_t session_count() const { return sessions_.size(); }
    std::size_t listener_count() const { return listeners_.size(); }

    asio::io_context& io() override { return io_; }
    BufferPool& pool() override { return pool_; }
    EventLog& log() override { return log_; }
    Metrics& metrics() override { return metrics_; }
    bool upstream_offers_smtputf8() const override { return upstream_smtputf8_; }
    AuthFailureTracker& auth_failures() override { return *auth_failures_; }
    MailRateLimiter& mail_rates() override { return mail_rates_; }
    void session_authenticated(ClientSession& session) override;
    bool under_stress() const override { return stressed_; }
    PasswordChecker& password_checker() override { return password_checker_; }
    UpstreamPool& upstream_pool() override { return *upstream_pool_; }
    void note_upstream_smtputf8(bool offered) override { upstream_smtputf8_ = offered; }
    void session_ended(ClientSession& session) override;
    void wake_at(std::chrono::steady_clock::time_point deadline) override;

private:
    // Held by shared_ptr: the accept and pause handlers keep their listener alive after a reload or an
    // address change removed it, until they have seen it closed.
    struct Listener {
        Listener(asio::io_context& io, ListenerSpec listener_spec, Metrics::ListenerSlot metrics_slot)
            : acceptor(io), spec(std::move(listener_spec)), slot(metrics_slot), pause(io) {}
        TcpAcceptor acceptor;
        ListenerSpec spec;
        Metrics::ListenerSlot slot; // its series in the metrics
        SteadyTimer pause;
        bool closed = false;
    };

    std::optional<std::string> open_listener(Listener& listener);
    void close_listener(Listener& listener);
    void accept(const std::shared_ptr<Listener>& listener);
    void sweep_deadlines();
    void admit(TcpSocket socket, const Listener& listener);
    void check_drained();
    // The name a client's sessions are counted under for max-connections-per-client: its address, or
    // for IPv6 its prefix (<limits client-ipv6-prefix>).
    std::string client_block_key(const policy::IpAddress& client) const {
        return client.client_block(config_->limits.client_ipv6_prefix).to_string();
    }
    // After the prefix changed: counts the sessions in flight again under the new names.
    void recount_sessions_per_client();
    // Enters or leaves stress mode after the untrusted sessions changed (<limits stress-threshold>).
    void update_stress();
    // Counts a connection against its client's <limits max-connection-rate> and returns the client's
    // connections in its window; 0 when no rate applies (no limit, or a client on the relay allowlist,
    // as Postfix exempts $mynetworks). Refused connections count too, as in Postfix's anvil: a client
    // that keeps hammering stays refused until its window ends.
    unsigned count_connection(const policy::IpAddress& client, std::chrono::steady_clock::time_point now);

    asio::io_context& io_;
    std::shared_ptr<const policy::Config> config_;
    TlsContexts tls_;
    std::string hostname_;
    // What the sessions of the current configuration share; a session keeps the one it started with.
    std::shared_ptr<const SessionSettings> settings_;
    EventLog& log_;
    Metrics& metrics_;
    BufferPool pool_;
    std::unique_ptr<AuthFailureTracker> auth_failures_;
    std::unique_ptr<ClientRateTracker> connection_rates_;
    MailRateLimiter mail_rates_;
    PasswordChecker password_checker_;
    // Held by shared_ptr: its connections' pending handlers reach it through a weak_ptr.
    std::shared_ptr<UpstreamPool> upstream_pool_;
    std::vector<std::shared_ptr<Listener>> listeners_;
    bool started_ = false;
    std::unordered_set<ClientSession*> sessions_;
    std::size_t untrusted_sessions_ = 0;
    std::size_t trusted_sessions_ = 0;
    bool stressed_ = false;
    std::chrono::steady_clock::time_point stress_entered_;
    std::unordered_map<std::string, unsigned> sessions_per_client_;
    bool upstream_smtputf8_ = false;
    bool stopping_ = false;
    std::function<void()> drained_;
    SteadyTimer shutdown_timer_;
    SteadyTimer sweep_timer_;
    std::chrono::steady_clock::time_point next_sweep_ = std::chrono::steady_clock::time_point::max();
    std::chrono::steady_clock::time_point last_sweep_{};
};

std::optional<std::string> Server::Impl::open_listener(Listener& listener) {
    return open_listening_socket(listener.acceptor, listener.spec, server_detail::listen_backlog);
}

void Server::Impl::close_listener(Listener& listener) {
    listener.closed = true;
    asio::error_code ignored;
    listener.acceptor.close(ignored);
    listener.pause.cancel();
}

std::vector<std::string> Server::Impl::set_listeners(const std::vector<ListenerSpec>& specs) {
    std::vector<std::string> problems;
    std::vector<std::shared_ptr<Listener>> kept;
    for (const std::shared_ptr<Listener>& listener : listeners_) {
        const auto wanted = std::find_if(specs.begin(), specs.end(), [&](const ListenerSpec& spec) {
            return spec.same_socket(listener->spec);
        });
        if (wanted == specs.end()) {
            close_listener(*listener);
            log_.info("no longer listening on " + listener->spec.name());
            continue;
        }
        listener->spec.tls = wanted->tls;
        kept.push_back(listener);
    }
    listeners_ = std::move(kept);
    for (const ListenerSpec& spec : specs) {
        const bool open = std::any_of(listeners_.begin(), listeners_.end(),
                                      [&](const auto& listener) { return listener->spec.same_socket(spec); });
        if (open || stopping_) {
            continue;
        }
        auto listener = std::make_shared<Listener>(io_, spec, metrics_.listener_slot(spec.name()));
        if (const std::optional<std::string> problem = open_listener(*listener)) {
            problems.push_back(*problem);
            continue;
        }
        listeners_.push_back(listener);
        if (started_) {
            log_.info("listening on " + spec.name());
            accept(listener);
        }
    }
    return problems;
}

void Server::Impl::start() {
    started_ = true;
    upstream_pool_->configure(settings_); // opens the prewarm connections
    for (const std::shared_ptr<Listener>& listener : listeners_) {
        log_.info("listening on " + listener->spec.name());
        accept(listener);
    }
}

void Server::Impl::accept(const std::shared_ptr<Listener>& listener) {
    listener->acceptor.async_accept([this, listener](const asio::error_code& error, TcpSocket socket) {
        if (stopping_ || listener->closed || error == asio::error::operation_aborted) {
            return;
        }
        if (error) {
            // Out of descriptors or memory: wait a moment instead of spinning on the same error.
            log_.warning("accept on " + listener->spec.name() + ": " + error.message());
            listener->pause.expires_after(server_detail::accept_pause);
            listener->pause.async_wait([this, listener](const asio::error_code& wait_error) {
                if (!wait_error && !stopping_ && !listener->closed) {
                    accept(listener);
                }
            });
            return;
        }
        admit(std::move(socket), *listener);
        accept(listener);
    });
}

void Server::Impl::use_config(std::shared_ptr<const policy::Config> config, TlsContexts tls,
                              std::string hostname) {
    const policy::AuthConfig& before = config_->auth;
    const policy::AuthConfig& after = config->auth;
    const unsigned prefix_before = config_->limits.client_ipv6_prefix;
    const unsigned prefix_after = config->limits.client_ipv6_prefix;
    if (config_->limits.rate_window != config->limits.rate_window || prefix_before != prefix_after) {
        // Windows measured against the old length or prefix do not carry over; a change of the limit
        // alone keeps the counts, as a reload keeps the AUTH failures.
        connection_rates_ = std::make_unique<ClientRateTracker>(config->limits.rate_window, prefix_after);
    }
    if (before.max_failures != after.max_failures || before.lockout != after.lockout ||
        prefix_before != prefix_after) {
        // The tracker's bookkeeping depends on all three; counts made under the old limits do not carry
        // over.
        auth_failures_ =
            std::make_unique<AuthFailureTracker>(after.max_failures, after.lockout, prefix_after);
    }
    if (config->upstream.host != config_->upstream.host || config->upstream.port != config_->upstream.port) {
        upstream_smtputf8_ = false; // learnt of the old upstream; the new one has to show it again
    }
    mail_rates_.reconfigure(config->limits, config->auth.users);
    config_ = std::move(config);
    if (prefix_before != prefix_after) {
        recount_sessions_per_client();
    }
    update_stress(); // the threshold or max-connections may have changed
    tls_ = std::move(tls);
    hostname_ = std::move(hostname);
    settings_ = std::make_shared<const SessionSettings>(config_, tls_.listeners, tls_.upstream, hostname_);
    if (started_ && !stopping_) {
        // Parked connections belong to the old configuration (its upstream, TLS, XCLIENT, limits).
        upstream_pool_->configure(settings_);
    }
}

void Server::Impl::recount_sessions_per_client() {
    sessions_per_client_.clear();
    for (const ClientSession* session : sessions_) {
        if (session->pool() != SessionPool::uncounted) {
            ++sessions_per_client_[client_block_key(session->client())];
        }
    }
}

unsigned Server::Impl::count_connection(const policy::IpAddress& client,
                                        std::chrono::steady_clock::time_point now) {
    if (config_->limits.max_connection_rate == 0 || config_->relay.is_trusted_network(client)) {
        return 0;
    }
    return connection_rates_->record(client, now);
}

void Server::Impl::admit(TcpSocket socket, const Listener& listener) {
    asio::error_code error;
    const asio::ip::tcp::endpoint peer = socket.remote_endpoint(error);
    if (error) {
        return; // the client is already gone
    }
    const policy::IpAddress client = server_detail::to_ip_address(peer.address());
    const std::string client_text = client.to_string();
    const std::string block = client_block_key(client);
    auto session = std::make_shared<ClientSession>(shared_from_this(), std::move(socket), client, settings_,
                                                   listener.spec.tls, listener.slot);
    sessions_.insert(session.get());

    const policy::LimitsConfig& limits = config_->limits;
    const auto now = std::chrono::steady_clock::now();
    const bool trusted = config_->relay.is_trusted_network(client);
    std::string_view refusal;
    std::string refusal_line; // holds a refusal that names the host
    // What the log says; it leaves out the host name, so every refusal of a kind logs the same words.
    std::string_view logged;
    ConnectionRefusal reason = ConnectionRefusal::acl;
    if (!config_->clients.allows(client)) {
        refusal = replies::access_denied;
        logged = "554 5.7.1 Access denied";
    } else if (auth_failures_->locked_out(client, now)) {
        reason = ConnectionRefusal::lockout;
        refusal = settings_->texts.auth_lockout;
        logged = "421 4.7.0 Too many authentication failures";
    } else if (const unsigned connections = count_connection(client, now);
               connections > limits.max_connection_rate) {
        // Postfix's reply and warning; the warning is the only line for it, so a flood does not log
        // twice.
        reason = ConnectionRefusal::rate;
        refusal_line = "421 4.7.0 " + hostname_ + " Error: too many connections from " + client_text + "\r\n";
        log_.warning(connection_rate_line(client_text, connections));
    } else if ((trusted ? trusted_sessions_ >= limits.trusted_connections
                        : untrusted_sessions_ >= limits.max_connections) ||
               sessions_per_client_[block] >= limits.max_connections_per_client) {
        reason = ConnectionRefusal::limits;
        refusal = settings_->texts.too_many_connections;
        logged = "421 4.7.0 Too many connections";
    }
    if (!refusal_line.empty()) {
        refusal = refusal_line;
    }
    if (!refusal.empty()) {
        metrics_.connection_refused(reason);
        if (!logged.empty()) {
            log_.info(connect_reject_line(client_text, logged));
        }
        if (sessions_per_client_[block] == 0) {
            sessions_per_client_.erase(block);
        }
        session->refuse(refusal);
        return;
    }
    session->count_in(trusted ? SessionPool::trusted : SessionPool::untrusted);
    metrics_.session_opened(listener.slot);
    ++(trusted ? trusted_sessions_ : untrusted_sessions_);
    update_stress(); // before start(): a session that takes the server into stress mode is treated so
    ++sessions_per_client_[block];
    session->start();
}

void Server::Impl::wake_at(std::chrono::steady_clock::time_point deadline) {
    if (deadline >= next_sweep_) {
        return; // the sweep already planned comes first and plans the next
    }
    next_sweep_ = std::max(deadline, last_sweep_ + server_detail::min_sweep_interval);
    // Re-arming cancels the wait in progress; its handler sees operation_aborted and does nothing.
    sweep_timer_.expires_at(next_sweep_);
    sweep_timer_.async_wait([this, keep = shared_from_this()](const asio::error_code& error) {
        if (!error) {
            sweep_deadlines();
        }
    });
}

void Server::Impl::sweep_deadlines() {
    const auto now = std::chrono::steady_clock::now();
    last_sweep_ = now;
    next_sweep_ = std::chrono::steady_clock::time_point::max();
    std::vector<std::shared_ptr<ClientSession>> due;
    auto earliest = std::chrono::steady_clock::time_point::max();
    for (ClientSession* session : sessions_) {
        if (session->deadline() <= now) {
            due.push_back(session->shared_from_this());
        } else {
            earliest = std::min(earliest, session->deadline());
        }
    }
    // A session's time-out may end it or arm a new deadline (which calls wake_at).
    for (const std::shared_ptr<ClientSession>& session : due) {
        if (session->deadline() <= now) {
            session->deadline_passed();
        }
    }
    if (earliest != std::chrono::steady_clock::time_point::max()) {
        wake_at(earliest);
    }
}

void Server::Impl::session_authenticated(ClientSession& session) {
    // Its slot in the untrusted pool is given back: a session that logged in is no longer one of the
    // internet's. When the trusted pool is full it stays where it is, so that one stolen login used from
    // many addresses cannot crowd the allowlist out.
    if (session.pool() == SessionPool::untrusted && trusted_sessions_ < config_->limits.trusted_connections) {
        --untrusted_sessions_;
        ++trusted_sessions_;
        session.count_in(SessionPool::trusted);
        update_stress();
    }
}

void Server::Impl::update_stress() {
    const policy::LimitsConfig& limits = config_->limits;
    const std::size_t enter_at =
        std::max<std::size_t>(1, (std::size_t{limits.max_connections} * limits.stress_threshold + 99) / 100);
    // Left at three quarters of where it was entered, so a pool hovering at the threshold does not flap
    // in and out with every connection; and not before six stress command timeouts (a minute by
    // default): the sessions it timed out together at entry would otherwise take it out at once, and
    // the flood that reconnects would bring it back.
    const std::size_t leave_at = std::min(enter_at - 1, enter_at * 3 / 4);
    const auto figures = [&] {
        return std::to_string(untrusted_sessions_) + " untrusted sessions of max-connections " +
               std::to_string(limits.max_connections);
    };
    if (!stressed_ && limits.stress_threshold > 0 && untrusted_sessions_ >= enter_at) {
        stressed_ = true;
        stress_entered_ = std::chrono::steady_clock::now();
        log_.warning("stress: entering: " + figures() + " (stress-threshold " +
                     std::to_string(limits.stress_threshold) + "%): shorter timeouts, longer greet delay");
        for (ClientSession* session : sessions_) {
            session->stress_began();
        }
    } else if (stressed_ &&
               (limits.stress_threshold == 0 ||
                (untrusted_sessions_ <= leave_at &&
                 std::chrono::steady_clock::now() - stress_entered_ >= 6 * limits.stress_command_timeout))) {
        stressed_ = false;
        log_.warning("stress: leaving: " + figures());
    }
}

void Server::Impl::session_ended(ClientSession& session) {
    sessions_.erase(&session);
    if (session.pool() != SessionPool::uncounted) {
        metrics_.session_closed(session.listener_slot());
        --(session.pool() == SessionPool::trusted ? trusted_sessions_ : untrusted_sessions_);
        if (session.pool() == SessionPool::untrusted && stressed_) {
            update_stress();
        }
        const auto entry = sessions_per_client_.find(client_block_key(session.client()));
        if (entry != sessions_per_client_.end() && --entry->second == 0) {
            sessions_per_client_.erase(entry);
        }
    }
    if (stopping_) {
        // Not from inside the destructor chain: let the session finish dying first.
        asio::post(io_, [this] { check_drained(); });
    }
}

void Server::Impl::shutdown(std::function<void()> drained) {
    stopping_ = true;
    drained_ = std::move(drained);
    for (const std::shared_ptr<Listener>& listener : listeners_) {
        close_listener(*listener);
    }
    upstream_pool_->close_all();
    log_.info("stopping: " + std::to_string(sessions_.size()) + " sessions open");
    // drain() may end a session (and so change the set): work on a copy of strong references.
    std::vector<std::shared_ptr<ClientSession>> open;
    for (ClientSession* session : sessions_) {
        open.push_back(session->shared_from_this());
    }
    for (const auto& session : open) {
        session->drain();
    }
    open.clear();
    shutdown_timer_.expires_after(config_->limits.shutdown_timeout);
    shutdown_timer_.async_wait([this](const asio::error_code& error) {
        if (error) {
            return;
        }
        if (!sessions_.empty()) {
            log_.warning("shutdown time-out: closing " + std::to_string(sessions_.size()) + " sessions");
        }
        close_all();
    });
    asio::post(io_, [this] { check_drained(); });
}

void Server::Impl::close_all() {
    // close_now() may end a session (and so change the set): work on a copy of strong references.
    std::vector<std::shared_ptr<ClientSession>> remaining;
    for (ClientSession* session : sessions_) {
        remaining.push_back(session->shared_from_this());
    }
    for (const auto& session : remaining) {
        session->close_now();
    }
}

void Server::Impl::check_drained() {
    if (!stopping_ || !sessions_.empty() || !drained_) {
        return;
    }
    shutdown_timer_.cancel();
    auto drained = std::move(drained_);
    drained_ = nullptr;
    drained();
}

std::string ListenerSpec::name() const {
    std::string text = address.find(':') != std::string::npos ? "[" + address + "]" : address;
    text += ":" + std::to_string(port);
    if (!interface.empty()) {
        text += "%" + interface;
    }
    return text;
}

bool ListenerSpec::same_socket(const ListenerSpec& other) const {
    return address == other.address && port == other.port && interface == other.interface;
}

std::vector<ListenerSpec> fixed_listener_specs(const policy::Config& config) {
    std::vector<ListenerSpec> specs;
    for (const policy::ListenConfig& listen : config.listeners) {
        if (!listen.follows_interface()) {
            specs.push_back(ListenerSpec{listen.address, listen.port, listen.interface, listen.tls});
        }
    }
    return specs;
}

bool load_tls_contexts(const policy::Config& config, TlsContexts& contexts, std::string& error) {
    TlsContexts loaded;
    if (config.tls) {
        loaded.listeners = TlsServerContext::load(config.tls->certificate, config.tls->key, error,
                                                  config.tls->ticket_lifetime);
        if (!loaded.listeners) {
            return false;
        }
    }
    if (config.upstream.tls != policy::UpstreamTls::none) {
        loaded.upstream = TlsClientContext::load(config.upstream.ca, error);
        if (!loaded.upstream) {
            error = "<upstream ca>: " + error;
            return false;
        }
    }
    contexts = std::move(loaded);
    return true;
}

Server::Server(asio::io_context& io, std::shared_ptr<const policy::Config> config, std::string hostname,
               TlsContexts tls, EventLog& log, Metrics& metrics)
    : impl_(
          std::make_shared<Impl>(io, std::move(config), std::move(hostname), std::move(tls), log, metrics)) {
}

Server::~Server() = default;

std::vector<std::string> Server::set_listeners(const std::vector<ListenerSpec>& specs) {
    return impl_->set_listeners(specs);
}

std::size_t Server::listener_count() const {
    return impl_->listener_count();
}

void Server::start() {
    impl_->start();
}

void Server::shutdown(std::function<void()> drained) {
    impl_->shutdown(std::move(drained));
}

void Server::close_all() {
    impl_->close_all();
}

void Server::use_config(std::shared_ptr<const policy::Config> config, TlsContexts tls, std::string hostname) {
    impl_->use_config(std::move(config), std::move(tls), std::move(hostname));
}

std::size_t Server::session_count() const {
    return impl_->session_count();
}

} // namespace relayguard::proxy
