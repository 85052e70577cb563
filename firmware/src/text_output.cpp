#include "text_output.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <unistd.h>

namespace relayguard::firmware {

TextOutput& TextOutput::operator<<(long long value) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    return *this << std::string_view(digits, static_cast<std::size_t>(end - digits));
}

TextOutput& TextOutput::operator<<(unsigned long long value) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    return *this << std::string_view(digits, static_cast<std::size_t>(end - digits));
}

void FileOutput::write(std::string_view text) {
    while (!text.empty()) {
        const std::size_t room = sizeof buffer_ - used_;
        const std::size_t take = text.size() < room ? text.size() : room;
        std::memcpy(buffer_ + used_, text.data(), take);
        used_ += take;
        text.remove_prefix(take);
        if (used_ == sizeof buffer_) {
            flush();
        }
    }
    if (used_ > 0 && buffer_[used_ - 1] == '\n') {
        flush();
    }
}

void FileOutput::flush() {
    std::size_t written = 0;
    while (written < used_) {
        const ssize_t n = ::write(fd_, buffer_ + written, used_ - written);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break; // a closed or full descriptor: what the commands print is not worth blocking or dying for
        }
        written += static_cast<std::size_t>(n);
    }
    used_ = 0;
}

} // namespace relayguard::firmware
