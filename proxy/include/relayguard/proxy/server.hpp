#pragma once
// The SMTP front: one acceptor per <listen>, the connection ACL and limits at accept, and the set of live
// sessions (for orderly shutdown). One io_context on one thread; no strands.
#include <relayguard/policy/config.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace asio {
class io_context;
}

namespace relayguard::proxy {

class EventLog;
class Metrics;
class TlsServerContext;
class TlsClientContext;

// The TLS contexts one configuration needs, parsed once: at boot, and again at each reload, so that a
// bad file is reported before anything uses it.
struct TlsContexts {
    std::shared_ptr<const TlsServerContext> listeners; // the <tls> certificate and key; null without <tls>
    std::shared_ptr<const TlsClientContext> upstream;  // <upstream ca>; null with <upstream tls="none">
};

// Loads what `config` names. False with one line in `error` (naming the file) when something cannot be
// used; `contexts` is then left as it was.
bool load_tls_contexts(const policy::Config& config, TlsContexts& contexts, std::string& error);

// One socket to listen on. The boot sequence turns the configuration's <listen> elements into these,
// resolving the ones that follow an interface into that interface's addresses of the moment.
struct ListenerSpec {
    std::string address; // a literal address, "0.0.0.0" and "::" included
    std::uint16_t port = 25;
    std::string interface; // pinned with SO_BINDTODEVICE when not empty
    policy::ListenTls tls = policy::ListenTls::none;

    // "127.0.0.1:25", "[::1]:25", "192.0.2.1:25%lan1"
    std::string name() const;
    // The same socket: address, port and interface (tls may change in place).
    bool same_socket(const ListenerSpec& other) const;
};

// The listener specs of the <listen> elements that name an address (the ones that follow an interface
// are the boot sequence's to resolve).
std::vector<ListenerSpec> fixed_listener_specs(const policy::Config& config);

class Server {
public:
    // `hostname`: the name for the greeting and EHLO (the configured identity, or the machine's name).
    // `tls`: what load_tls_contexts() built for `config` (the boot sequence loads it, so a bad file stops
    // the start with a clear error). `metrics` counts what the server and its sessions do; it must
    // outlive the server and every session.
    Server(asio::io_context& io, std::shared_ptr<const policy::Config> config, std::string hostname,
           TlsContexts tls, EventLog& log, Metrics& metrics);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Makes the listening sockets exactly `specs`: sockets already open for a spec stay as they are (no
    // connection waiting in their backlog is lost), sockets no spec names are closed (sessions they
    // accepted go on), and new ones are bound. Returns one message per spec that could not be bound;
    // the others are open all the same. After start(), new sockets accept at once.
    std::vector<std::string> set_listeners(const std::vector<ListenerSpec>& specs);
    // Starts accepting on the listeners.
    void start();
    std::size_t listener_count() const;
    // Stops accepting; idle sessions are closed with 421 at once, the others may finish their current
    // transaction within the configured shutdown timeout. `drained` runs once no session is left.
    void shutdown(std::function<void()> drained);
    // Closes every session at once (a second SIGTERM while draining); messages in flight are dropped
    // without their final dot, so the upstream discards them and the clients retry.
    void close_all();
    // New sessions use `config` (and `tls`, and `hostname`) from now on; sessions in flight keep theirs.
    // The AUTH failure counts are kept unless max-failures or lockout changed.
    void use_config(std::shared_ptr<const policy::Config> config, TlsContexts tls, std::string hostname);

    std::size_t session_count() const;

private:
    class Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace relayguard::proxy
