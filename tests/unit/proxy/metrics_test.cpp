// The exposition of relayguard's counters: names, labels and types as Prometheus wants them, in both
// formats, bounded label sets, and no allocation once the buffer has the size of a scrape.
#include <relayguard/proxy/metrics.hpp>

#include <catch2/catch.hpp>

#include <string>

using relayguard::proxy::ExpositionFormat;
using relayguard::proxy::Metrics;

namespace metrics_test {

std::string text_of(const Metrics& metrics, ExpositionFormat format = ExpositionFormat::text) {
    std::string out;
    metrics.write(out, format);
    return out;
}

bool has_line(const std::string& text, const std::string& line) {
    return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

} // namespace metrics_test

TEST_CASE("Counters appear with their labels and values", "[metrics]") {
    using namespace relayguard::proxy;
    Metrics metrics("1.2.3");
    const Metrics::ListenerSlot smtp = metrics.listener_slot("127.0.0.1:25");
    const Metrics::ListenerSlot submission = metrics.listener_slot("[::1]:587");
    CHECK(metrics.listener_slot("127.0.0.1:25") == smtp);
    metrics.session_opened(smtp);
    metrics.session_opened(smtp);
    metrics.session_closed(smtp);
    metrics.session_opened(submission);
    metrics.recipient(RecipientResult::accepted_network);
    metrics.recipient(RecipientResult::rejected_relay_denied);
    metrics.recipient(RecipientResult::rejected_relay_denied);
    metrics.sender(SenderResult::rejected_sender_refused);
    metrics.message(MessageResult::deferred);
    metrics.connection_refused(ConnectionRefusal::greet_delay);
    metrics.auth_result(relayguard::policy::AuthMechanism::login, false);
    metrics.auth_lockout(relayguard::policy::AuthMechanism::login);
    metrics.tls_handshake(submission, TlsProtocol::tls1_3);
    metrics.tls_handshake_failed(smtp);
    metrics.received(Peer::client, 100);
    metrics.sent(Peer::upstream, 40);
    metrics.upstream_connected();
    metrics.upstream_reused();
    metrics.upstream_reused();
    metrics.upstream_pool_idle(3);
    metrics.reload_result(false);
    metrics.configuration_loaded("ab12",
                                 std::chrono::system_clock::time_point(std::chrono::seconds(1700000000)));
    metrics.watchdog_fed();

    const std::string text = metrics_test::text_of(metrics);
    for (const char* line : {
             "relayguard_sessions_open{listener=\"127.0.0.1:25\"} 1",
             "relayguard_sessions_open{listener=\"[::1]:587\"} 1",
             "relayguard_sessions_accepted_total{listener=\"127.0.0.1:25\"} 2",
             "relayguard_recipients_total{outcome=\"accepted\",reason=\"network\"} 1",
             "relayguard_recipients_total{outcome=\"rejected\",reason=\"relay_denied\"} 2",
             "relayguard_recipients_total{outcome=\"accepted\",reason=\"auth\"} 0",
             "relayguard_senders_total{outcome=\"rejected\",reason=\"sender_refused\"} 1",
             "relayguard_messages_total{outcome=\"deferred\"} 1",
             "relayguard_connections_refused_total{reason=\"greet_delay\"} 1",
             "relayguard_connections_refused_total{reason=\"acl\"} 0",
             "relayguard_auth_attempts_total{mechanism=\"login\",result=\"failure\"} 1",
             "relayguard_auth_lockouts_total{mechanism=\"login\"} 1",
             "relayguard_tls_handshakes_total{listener=\"[::1]:587\",protocol=\"tls1.3\"} 1",
             "relayguard_tls_handshake_failures_total{listener=\"127.0.0.1:25\"} 1",
             "relayguard_received_bytes_total{peer=\"client\"} 100",
             "relayguard_sent_bytes_total{peer=\"upstream\"} 40",
             "relayguard_upstream_connects_total 1",
             "relayguard_upstream_reuses_total 2",
             "relayguard_upstream_pool_idle 3",
             "relayguard_config_reloads_total{result=\"failed\"} 1",
             "relayguard_config_last_reload_successful 0",
             "relayguard_config_info{sha256=\"ab12\"} 1",
             "relayguard_config_load_timestamp_seconds 1700000000",
             "relayguard_watchdog_feeds_total 1",
         }) {
        CAPTURE(line);
        CHECK(metrics_test::has_line(text, line));
    }
    CHECK_THAT(text, Catch::Contains("relayguard_build_info{version=\"1.2.3\",mbedtls=\""));
}

TEST_CASE("The two formats differ where Prometheus says they do", "[metrics]") {
    Metrics metrics;
    const std::string text = metrics_test::text_of(metrics, ExpositionFormat::text);
    const std::string open = metrics_test::text_of(metrics, ExpositionFormat::openmetrics);
    CHECK(metrics_test::has_line(text, "# TYPE relayguard_recipients_total counter"));
    CHECK(metrics_test::has_line(open, "# TYPE relayguard_recipients counter"));
    CHECK(metrics_test::has_line(
        open, "relayguard_recipients_total{outcome=\"accepted\",reason=\"local_domain\"} 0"));
    CHECK(text.find("# EOF") == std::string::npos);
    CHECK(open.size() >= 6);
    CHECK(open.substr(open.size() - 6) == "# EOF\n");
    CHECK(Metrics::content_type(ExpositionFormat::text) == "text/plain; version=0.0.4; charset=utf-8");
    CHECK(Metrics::content_type(ExpositionFormat::openmetrics) ==
          "application/openmetrics-text; version=1.0.0; charset=utf-8");
    // The 23 families, each announced once with HELP and TYPE.
    const auto count = [&](const std::string& what) {
        std::size_t found = 0;
        for (std::size_t position = text.find(what); position != std::string::npos;
             position = text.find(what, position + 1)) {
            ++found;
        }
        return found;
    };
    CHECK(count("# TYPE ") == 23);
    CHECK(count("# HELP ") == 23);
}

TEST_CASE("The reply time histogram is cumulative and in seconds", "[metrics]") {
    Metrics metrics;
    using std::chrono::microseconds;
    metrics.upstream_reply_time(microseconds(500));       // le 0.001
    metrics.upstream_reply_time(microseconds(1000));      // le 0.001 (bounds are inclusive)
    metrics.upstream_reply_time(microseconds(30'000));    // le 0.05
    metrics.upstream_reply_time(std::chrono::minutes(5)); // only +Inf
    const std::string text = metrics_test::text_of(metrics);
    const std::string name = "relayguard_upstream_reply_duration_seconds";
    CHECK(metrics_test::has_line(text, "# TYPE " + name + " histogram"));
    CHECK(metrics_test::has_line(text, name + "_bucket{le=\"0.001\"} 2"));
    CHECK(metrics_test::has_line(text, name + "_bucket{le=\"0.025\"} 2"));
    CHECK(metrics_test::has_line(text, name + "_bucket{le=\"0.05\"} 3"));
    CHECK(metrics_test::has_line(text, name + "_bucket{le=\"60.0\"} 3"));
    CHECK(metrics_test::has_line(text, name + "_bucket{le=\"+Inf\"} 4"));
    CHECK(metrics_test::has_line(text, name + "_count 4"));
    CHECK(metrics_test::has_line(text, name + "_sum 300.0315"));
}

TEST_CASE("Listener series are bounded whatever names come and go", "[metrics]") {
    Metrics metrics;
    for (int number = 0; number < 100; ++number) {
        metrics.session_opened(metrics.listener_slot("192.0.2." + std::to_string(number) + ":25"));
    }
    const std::string text = metrics_test::text_of(metrics);
    std::size_t open_series = 0;
    std::size_t position = 0;
    while ((position = text.find("\nrelayguard_sessions_open{", position)) != std::string::npos) {
        ++open_series;
        ++position;
    }
    CHECK(open_series == Metrics::max_listener_series + 1);
    CHECK(metrics_test::has_line(text, "relayguard_sessions_open{listener=\"other\"} " +
                                           std::to_string(100 - Metrics::max_listener_series)));
}

TEST_CASE("A label value cannot break out of its quotes", "[metrics]") {
    Metrics metrics;
    metrics.session_opened(metrics.listener_slot("a\"b\\c\nd"));
    CHECK(metrics_test::has_line(metrics_test::text_of(metrics),
                                 "relayguard_sessions_open{listener=\"a\\\"b\\\\c\\nd\"} 1"));
}

TEST_CASE("A scrape into a buffer of the right size allocates nothing", "[metrics]") {
    Metrics metrics;
    metrics.session_opened(metrics.listener_slot("127.0.0.1:25"));
    std::string buffer;
    metrics.write(buffer, ExpositionFormat::openmetrics);
    const std::size_t size = buffer.size();
    const char* const data = buffer.data();
    const std::size_t capacity = buffer.capacity();
    for (int scrape = 0; scrape < 3; ++scrape) {
        buffer.clear();
        metrics.write(buffer, ExpositionFormat::openmetrics);
        CHECK(buffer.size() == size);
        CHECK(buffer.data() == data);
        CHECK(buffer.capacity() == capacity);
    }
}

TEST_CASE("The TLS protocol is read off the session's description", "[metrics]") {
    using relayguard::proxy::tls_protocol_of;
    using relayguard::proxy::TlsProtocol;
    CHECK(tls_protocol_of("TLSv1.3 TLS1-3-AES-256-GCM-SHA384") == TlsProtocol::tls1_3);
    CHECK(tls_protocol_of("TLSv1.2 TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384") == TlsProtocol::tls1_2);
    CHECK(tls_protocol_of("") == TlsProtocol::other);
    CHECK(tls_protocol_of("TLSv1.1 x") == TlsProtocol::other);
}
