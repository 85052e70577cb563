#pragma once
// Pure: the request head a client sent to the metrics endpoint, read as far as the endpoint needs it
// (the request line and the Accept header). Anything that is not a plain HTTP/1.x request is a bad
// request; nothing of the client's text is kept.
#include <relayguard/proxy/metrics.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace relayguard::proxy {

enum class MetricsRequestStatus : std::uint8_t {
    incomplete,         // the head has not ended yet: read more
    ok,                 // GET or HEAD /metrics
    bad_request,        // 400: not an HTTP/1.x request line
    too_large,          // 431: no end of the head within the limit
    not_found,          // 404: another path
    method_not_allowed, // 405: /metrics with a method other than GET and HEAD
};

struct MetricsRequest {
    MetricsRequestStatus status = MetricsRequestStatus::incomplete;
    bool head_only = false; // HEAD: the headers without the body
    ExpositionFormat format = ExpositionFormat::text;
};

// `received`: everything read so far. `limit`: how much may be read before the head must have ended.
MetricsRequest parse_metrics_request(std::string_view received, std::size_t limit);

} // namespace relayguard::proxy
