#pragma once
// What the commands print (usage, reports, errors) goes through TextOutput rather than std::ostream: the
// static OpenWrt binary links the C++ runtime in, and <iostream> with its locale machinery is about a
// third of libc++'s share of it (164 KB of 1.33 MiB on aarch64), for output that is only text and integers.
#include <cstddef>
#include <string>
#include <string_view>

namespace relayguard::firmware {

class TextOutput {
public:
    TextOutput() = default;
    TextOutput(const TextOutput&) = delete;
    TextOutput& operator=(const TextOutput&) = delete;
    virtual ~TextOutput() = default;

    TextOutput& operator<<(std::string_view text) {
        write(text);
        return *this;
    }
    TextOutput& operator<<(const char* text) { return *this << std::string_view(text); }
    TextOutput& operator<<(const std::string& text) { return *this << std::string_view(text); }
    TextOutput& operator<<(char c) { return *this << std::string_view(&c, 1); }
    TextOutput& operator<<(int value) { return *this << static_cast<long long>(value); }
    TextOutput& operator<<(long value) { return *this << static_cast<long long>(value); }
    TextOutput& operator<<(long long value);
    TextOutput& operator<<(unsigned value) { return *this << static_cast<unsigned long long>(value); }
    TextOutput& operator<<(unsigned long value) { return *this << static_cast<unsigned long long>(value); }
    TextOutput& operator<<(unsigned long long value);

    // Sends what is buffered on (a prompt that must appear before input is read).
    virtual void flush() {}

protected:
    virtual void write(std::string_view text) = 0;
};

// Standard output or standard error: buffered, written out at each line end, when full, and on flush,
// so a line is one write(2) and does not interleave with the event log's lines on the same descriptor.
class FileOutput final : public TextOutput {
public:
    explicit FileOutput(int fd) : fd_(fd) {}
    ~FileOutput() override { flush(); }
    void flush() override;

private:
    void write(std::string_view text) override;

    int fd_;
    std::size_t used_ = 0;
    char buffer_[1024];
};

// Collects the text, for tests.
class StringOutput final : public TextOutput {
public:
    const std::string& str() const { return text_; }

private:
    void write(std::string_view text) override { text_.append(text); }

    std::string text_;
};

} // namespace relayguard::firmware
