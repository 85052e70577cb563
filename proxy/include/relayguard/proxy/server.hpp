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

class Server {
public:
    // `hostname`: the name for the greeting and EHLO (the configured identity, or the machine's name).
    // `tls`: what load_tls_contexts() built for `config` (the boot sequence loads it, so a bad file stops
    // the start with a clear error).
    Server(asio::io_context& io, std::shared_ptr<const policy::Config> config, std::string hostname,
           TlsContexts tls, EventLog& log);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds every configured listener; returns one message per listener that could not be opened.
    std::vector<std::string> open_listeners();
    // Starts accepting on the opened listeners.
    void start();
    // Stops accepting; idle sessions are closed with 421 at once, the others may finish their current
    // transaction within the configured shutdown timeout. `drained` runs once no session is left.
    void shutdown(std::function<void()> drained);
    // New sessions use `config` (and `tls`) from now on; sessions in flight keep theirs.
    void use_config(std::shared_ptr<const policy::Config> config, TlsContexts tls);

    std::size_t session_count() const;

private:
    class Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace relayguard::proxy
