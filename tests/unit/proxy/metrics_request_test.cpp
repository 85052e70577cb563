// The metrics endpoint's reading of a request head: only GET and HEAD of /metrics are served.
#include <relayguard/proxy/metrics_request.hpp>

#include <catch2/catch.hpp>

#include <string>

using relayguard::proxy::ExpositionFormat;
using relayguard::proxy::MetricsRequest;
using relayguard::proxy::MetricsRequestStatus;
using relayguard::proxy::parse_metrics_request;

namespace metrics_request_test {

constexpr std::size_t limit = 4096;

MetricsRequestStatus status_of(const std::string& head) {
    return parse_metrics_request(head, limit).status;
}

} // namespace metrics_request_test

TEST_CASE("A scrape is GET or HEAD of /metrics", "[metrics][http]") {
    const MetricsRequest get = parse_metrics_request("GET /metrics HTTP/1.1\r\nHost: box:9125\r\n\r\n", 4096);
    CHECK(get.status == MetricsRequestStatus::ok);
    CHECK_FALSE(get.head_only);
    CHECK(get.format == ExpositionFormat::text);
    const MetricsRequest head = parse_metrics_request("HEAD /metrics HTTP/1.0\n\n", 4096);
    CHECK(head.status == MetricsRequestStatus::ok);
    CHECK(head.head_only);
    CHECK(metrics_request_test::status_of("GET /metrics?name[]=up HTTP/1.1\r\n\r\n") ==
          MetricsRequestStatus::ok);
}

TEST_CASE("OpenMetrics is served when the Accept header asks for it", "[metrics][http]") {
    // What Prometheus 2.42 sends.
    const std::string prometheus =
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9125\r\nUser-Agent: Prometheus/2.42.0\r\n"
        "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
        "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\nAccept-Encoding: gzip\r\n"
        "X-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n";
    CHECK(parse_metrics_request(prometheus, 4096).format == ExpositionFormat::openmetrics);
    CHECK(parse_metrics_request("GET /metrics HTTP/1.1\r\naccept: application/openmetrics-text\r\n\r\n", 4096)
              .format == ExpositionFormat::openmetrics);
    CHECK(parse_metrics_request("GET /metrics HTTP/1.1\r\nAccept: text/plain\r\n\r\n", 4096).format ==
          ExpositionFormat::text);
    // The words elsewhere than in Accept do not count.
    CHECK(parse_metrics_request("GET /metrics HTTP/1.1\r\nX-Note: application/openmetrics-text\r\n\r\n", 4096)
              .format == ExpositionFormat::text);
}

TEST_CASE("Other paths are 404 and other methods on /metrics 405", "[metrics][http]") {
    using metrics_request_test::status_of;
    CHECK(status_of("GET / HTTP/1.1\r\n\r\n") == MetricsRequestStatus::not_found);
    CHECK(status_of("GET /metrics/ HTTP/1.1\r\n\r\n") == MetricsRequestStatus::not_found);
    CHECK(status_of("GET /metricsx HTTP/1.1\r\n\r\n") == MetricsRequestStatus::not_found);
    CHECK(status_of("POST / HTTP/1.1\r\n\r\n") == MetricsRequestStatus::not_found);
    CHECK(status_of("POST /metrics HTTP/1.1\r\n\r\n") == MetricsRequestStatus::method_not_allowed);
    CHECK(status_of("DELETE /metrics HTTP/1.1\r\n\r\n") == MetricsRequestStatus::method_not_allowed);
    CHECK(status_of("get /metrics HTTP/1.1\r\n\r\n") == MetricsRequestStatus::method_not_allowed);
}

TEST_CASE("What is not an HTTP/1.x request is a bad request", "[metrics][http]") {
    using metrics_request_test::status_of;
    for (const char* head :
         {"EHLO scanner\r\n\r\n", "GET /metrics\r\n\r\n", "GET /metrics HTTP/2.0\r\n\r\n",
          "GET  /metrics HTTP/1.1\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n", "G\"T /metrics HTTP/1.1\r\n\r\n",
          "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", "\r\n\r\n",
          "GET /metrics HTTP/1.1 extra\r\n\r\n"}) {
        CAPTURE(head);
        CHECK(status_of(head) == MetricsRequestStatus::bad_request);
    }
}

TEST_CASE("A head is read until its blank line, within the limit", "[metrics][http]") {
    using metrics_request_test::status_of;
    CHECK(status_of("") == MetricsRequestStatus::incomplete);
    CHECK(status_of("GET /metrics HTTP/1.1\r\n") == MetricsRequestStatus::incomplete);
    CHECK(status_of("GET /metrics HTTP/1.1\r\nHost: x\r\n\r") == MetricsRequestStatus::incomplete);
    // Line ends of either kind, mixed.
    CHECK(status_of("GET /metrics HTTP/1.1\nHost: x\n\r\n") == MetricsRequestStatus::ok);
    CHECK(status_of("GET /metrics HTTP/1.1\r\nHost: x\n\n") == MetricsRequestStatus::ok);
    CHECK(parse_metrics_request("HEAD / HTTP/1.1\r\n\r\n", 4096).head_only);
    const std::string long_header = "GET /metrics HTTP/1.1\r\nX: " + std::string(5000, 'a');
    CHECK(parse_metrics_request(long_header.substr(0, 4096), 4096).status == MetricsRequestStatus::too_large);
    CHECK(parse_metrics_request(long_header.substr(0, 4095), 4096).status ==
          MetricsRequestStatus::incomplete);
    // An end found beyond the limit does not count: the endpoint's buffer ends there.
    const std::string ended_late = long_header + "\r\n\r\n";
    CHECK(parse_metrics_request(ended_late, 4096).status == MetricsRequestStatus::too_large);
}
