#include <relayguard/proxy/command_parser.hpp>
#include <relayguard/proxy/metrics_request.hpp>

#include <initializer_list>

namespace relayguard::proxy {
namespace metrics_request_detail {

// RFC 9110 §5.6.2 tchar, which a method is made of.
bool is_token(std::string_view text) {
    if (text.empty()) {
        return false;
    }
    for (const char c : text) {
        const bool alphanumeric = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alphanumeric && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) {
            return false;
        }
    }
    return true;
}

// The next line of `rest` without its line end (CRLF or a bare LF), which is removed from `rest`.
std::string_view take_line(std::string_view& rest) {
    const std::size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    return line;
}

} // namespace metrics_request_detail

MetricsRequest parse_metrics_request(std::string_view received, std::size_t limit) {
    namespace local = metrics_request_detail;
    MetricsRequest request;
    // The blank line that ends the head, with CRLF or bare LF line ends in any mix.
    std::size_t head_end = received.find("\r\n\r\n");
    for (const std::string_view end : {"\n\n", "\n\r\n"}) {
        if (const std::size_t found = received.find(end); found < head_end) {
            head_end = found;
        }
    }
    if (head_end == std::string_view::npos || head_end >= limit) {
        if (received.size() >= limit) {
            request.status = MetricsRequestStatus::too_large;
        }
        return request;
    }
    std::string_view rest = received.substr(0, head_end + 1);
    const std::string_view request_line = local::take_line(rest);
    const std::size_t first_space = request_line.find(' ');
    const std::size_t second_space =
        first_space == std::string_view::npos ? first_space : request_line.find(' ', first_space + 1);
    if (second_space == std::string_view::npos) {
        request.status = MetricsRequestStatus::bad_request;
        return request;
    }
    const std::string_view method = request_line.substr(0, first_space);
    const std::string_view target = request_line.substr(first_space + 1, second_space - first_space - 1);
    const std::string_view version = request_line.substr(second_space + 1);
    request.head_only = method == "HEAD";
    if (!local::is_token(method) || target.empty() || target.front() != '/' ||
        target.find_first_of(" \t") != std::string_view::npos ||
        (version != "HTTP/1.1" && version != "HTTP/1.0")) {
        request.status = MetricsRequestStatus::bad_request;
        return request;
    }
    const std::string_view path = target.substr(0, target.find('?'));
    if (path != "/metrics") {
        request.status = MetricsRequestStatus::not_found;
        return request;
    }
    if (method != "GET" && method != "HEAD") {
        request.status = MetricsRequestStatus::method_not_allowed;
        return request;
    }
    while (!rest.empty()) {
        const std::string_view header = local::take_line(rest);
        const std::size_t colon = header.find(':');
        if (colon == std::string_view::npos) {
            request.status = MetricsRequestStatus::bad_request;
            return request;
        }
        // Prometheus lists OpenMetrics first and the 0.0.4 text format as its fallback.
        if (equals_ignoring_ascii_case(header.substr(0, colon), "accept") &&
            header.find("application/openmetrics-text", colon) != std::string_view::npos) {
            request.format = ExpositionFormat::openmetrics;
        }
    }
    request.status = MetricsRequestStatus::ok;
    return request;
}

} // namespace relayguard::proxy
