// The metrics endpoint's request-head parser (metrics_request.hpp), fed as the endpoint reads: the
// input split where its first octet says. A decision on a prefix is final (the endpoint answers at the
// first one); only GET and HEAD of /metrics are served; a head that ends within the limit is never
// "too large".
#include "fuzz_check.hpp"

#include <relayguard/proxy/metrics_request.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using relayguard::proxy::MetricsRequest;
    using relayguard::proxy::MetricsRequestStatus;
    if (size == 0) {
        return 0;
    }
    // The endpoint's limit and, so that the limit is reached often, a small one.
    const std::size_t limit = data[0] & 1 ? 4096 : 64;
    const std::string_view whole(reinterpret_cast<const char*>(data + 1), size - 1);
    const std::string_view read = whole.substr(0, limit); // the endpoint's buffer holds no more
    const MetricsRequest full = relayguard::proxy::parse_metrics_request(read, limit);
    if (full.status == MetricsRequestStatus::ok) {
        FUZZ_CHECK(read.substr(0, 12) == "GET /metrics" || read.substr(0, 13) == "HEAD /metrics");
        FUZZ_CHECK(full.head_only == (read.substr(0, 5) == "HEAD "));
    }
    if (full.status == MetricsRequestStatus::incomplete) {
        FUZZ_CHECK(read.size() < limit);
    }
    const std::size_t split = read.empty() ? 0 : data[0] % (read.size() + 1);
    const MetricsRequest partial = relayguard::proxy::parse_metrics_request(read.substr(0, split), limit);
    if (partial.status != MetricsRequestStatus::incomplete) {
        FUZZ_CHECK(partial.status == full.status);
        FUZZ_CHECK(partial.head_only == full.head_only);
        FUZZ_CHECK(partial.format == full.format);
    }
    return 0;
}
