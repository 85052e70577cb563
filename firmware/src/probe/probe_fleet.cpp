#include "probe_fleet.hpp"

#include <relayguard/proxy/tls_context.hpp>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace relayguard::firmware {
namespace probe_fleet_detail {

// A fleet file lists boxes, not the internet: the bounds keep a wrong path (a log, a disk image)
// from being read whole.
constexpr std::size_t max_targets = 100'000;
constexpr std::size_t max_file_size = 8 * 1024 * 1024;
constexpr int exit_relays = 1;
constexpr int exit_failed = 2;

std::string_view trimmed(std::string_view text) {
    const std::size_t first = text.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) {
        return {};
    }
    const std::size_t last = text.find_last_not_of(" \t\r");
    return text.substr(first, last - first + 1);
}

bool read_file(const std::string& path, std::string& text, std::string& error) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) {
        error = "cannot open the targets file " + path + ": " + std::strerror(errno);
        return false;
    }
    text.assign(max_file_size + 1, '\0');
    const std::size_t size = std::fread(text.data(), 1, text.size(), file);
    const bool failed = std::ferror(file) != 0;
    std::fclose(file);
    text.resize(size);
    if (failed) {
        error = "cannot read the targets file " + path;
        return false;
    }
    if (size > max_file_size) {
        error = "the targets file " + path + " is larger than " +
                std::to_string(max_file_size / 1024 / 1024) + " MiB";
        return false;
    }
    return true;
}

} // namespace probe_fleet_detail

std::optional<std::vector<ProbeOptions>> parse_probe_targets(std::string_view text, const ProbeOptions& base,
                                                             std::string& error) {
    namespace local = probe_fleet_detail;
    std::vector<ProbeOptions> targets;
    std::size_t line_number = 0;
    while (!text.empty()) {
        const std::size_t end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        ++line_number;
        line = local::trimmed(line.substr(0, line.find('#')));
        if (line.empty()) {
            continue;
        }
        ProbeOptions target = base;
        target.port = 25;
        if (line.find_first_of(" \t") != std::string_view::npos ||
            !parse_probe_target(std::string(line), target)) {
            error = "line " + std::to_string(line_number) + ": \"" + std::string(line.substr(0, 200)) +
                    "\" is not HOST, HOST:PORT or [IPv6]:PORT";
            return std::nullopt;
        }
        if (targets.size() == local::max_targets) {
            error = "more than " + std::to_string(local::max_targets) + " targets";
            return std::nullopt;
        }
        targets.push_back(std::move(target));
    }
    if (targets.empty()) {
        error = "no targets (one HOST[:PORT] per line)";
        return std::nullopt;
    }
    return targets;
}

int probe_fleet(const ProbeOptions& options, TextOutput& out, TextOutput& err) {
    namespace local = probe_fleet_detail;
    std::string text;
    std::string error;
    std::optional<std::vector<ProbeOptions>> targets;
    if (local::read_file(options.targets_file, text, error)) {
        targets = parse_probe_targets(text, options, error);
    }
    if (!targets) {
        err << "relayguard probe: " << error << "\n";
        return local::exit_failed;
    }
    std::atomic<std::size_t> next{0};
    std::mutex output;
    bool any_open = false;
    bool any_failed = false;
    const auto worker = [&] {
        for (std::size_t index = next++; index < targets->size(); index = next++) {
            ProbeReport report;
            int status = local::exit_failed;
            try {
                status = run_probe((*targets)[index], report);
            } catch (const std::exception& failure) { // out of memory or threads: this target failed
                report.exit_status = local::exit_failed;
                report.failure = failure.what();
            }
            const std::string line = json_summary_line(report);
            const std::lock_guard<std::mutex> lock(output);
            out << line;
            out.flush();
            any_open = any_open || status == local::exit_relays;
            any_failed = any_failed || status == local::exit_failed;
        }
    };
    std::size_t count = std::min<std::size_t>(options.parallel, targets->size());
    if (options.tls != ProbeTls::none && !proxy::tls_thread_safe()) {
        count = 1; // this mbedTLS has no locks (tls_context.hpp)
    }
    std::vector<std::thread> workers;
    workers.reserve(count);
    for (std::size_t number = 0; number < count; ++number) {
        try {
            workers.emplace_back(worker);
        } catch (const std::system_error&) {
            break; // no more threads: the ones running take the rest of the targets
        }
    }
    if (workers.empty()) {
        worker();
    }
    for (std::thread& thread : workers) {
        thread.join();
    }
    return any_open ? local::exit_relays : any_failed ? local::exit_failed : 0;
}

} // namespace relayguard::firmware
