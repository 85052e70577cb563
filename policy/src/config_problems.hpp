#pragma once
// Internal to the configuration loader: where its errors and warnings are collected while a file is read.
#include <relayguard/policy/config_loader.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace relayguard::policy::config_detail {

// A broken file can produce one error per line; past this many the rest would only bury the first ones.
inline constexpr std::size_t max_reported_errors = 100;

class ProblemLog {
public:
    explicit ProblemLog(std::string file) : file_(std::move(file)) {}

    void error(int line, std::string item, std::string message);
    void warning(int line, std::string item, std::string message);

    bool has_errors() const { return !errors_.empty(); }
    // Every error reported so far, including those not kept: lets a reader see whether a part it just
    // read was clean.
    std::size_t error_count() const { return total_errors_; }
    const std::string& file() const { return file_; }
    std::vector<ConfigProblem> take_errors() { return std::move(errors_); }
    std::vector<ConfigProblem> take_warnings() { return std::move(warnings_); }

private:
    std::string file_;
    std::vector<ConfigProblem> errors_;
    std::vector<ConfigProblem> warnings_;
    std::size_t total_errors_ = 0;
};

// A value from the file, shown in a message: in quotes, control characters escaped, long values cut, so
// that a message always stays one readable line.
std::string quoted(std::string_view value);

} // namespace relayguard::policy::config_detail
