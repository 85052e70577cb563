#pragma once
// Fixed-size byte buffers lent to sessions while they have bytes in flight. An idle session (waiting
// for its next command with nothing buffered) holds no buffer at all, which keeps thousands of idle
// connections to a few hundred bytes each; a busy one reuses pooled blocks, so the steady state does
// not allocate.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace relayguard::proxy {

class BufferPool {
public:
    // `block_size`: the size of every buffer (below 4 GiB: buffers count in 32 bits, which keeps the
    // idle session small); `max_idle_blocks`: how many returned blocks are kept for reuse before
    // further ones are given back to the allocator.
    BufferPool(std::size_t block_size, std::size_t max_idle_blocks);
    ~BufferPool();
    BufferPool(const BufferPool&) = delete;
    BufferPool& operator=(const BufferPool&) = delete;

    std::unique_ptr<char[]> acquire();
    void release(std::unique_ptr<char[]> block);
    std::size_t block_size() const { return block_size_; }
    std::size_t idle_blocks() const { return idle_.size(); }

private:
    std::size_t block_size_;
    std::size_t max_idle_blocks_;
    std::vector<std::unique_ptr<char[]>> idle_;
};

// A window [read, write) over one pooled block: bytes are appended at the write end and consumed at
// the read end. The block is borrowed on first use and returned by release() (or the destructor).
class ByteBuffer {
public:
    explicit ByteBuffer(BufferPool& pool) : pool_(&pool) {}
    ~ByteBuffer() { release(); }
    ByteBuffer(const ByteBuffer&) = delete;
    ByteBuffer& operator=(const ByteBuffer&) = delete;

    bool holds_block() const { return block_ != nullptr; }
    std::size_t capacity() const { return pool_->block_size(); }
    std::size_t size() const { return write_ - read_; }
    bool empty() const { return read_ == write_; }
    std::string_view readable() const { return {block_.get() + read_, write_ - read_}; }
    const char* data() const { return block_.get() + read_; }

    // Room at the write end, after moving unread bytes to the front when that makes more room.
    // Borrows the block on first use.
    char* writable();
    std::size_t writable_size() const { return block_ ? capacity() - write_ : capacity(); }
    void commit(std::size_t count) { write_ += static_cast<std::uint32_t>(count); }
    // Appends as much of `bytes` as fits; returns whether all of it did.
    bool append(std::string_view bytes);
    void consume(std::size_t count);
    // Consumes and overwrites the bytes first, for input that carried a secret (an AUTH exchange).
    void consume_and_wipe(std::size_t count);
    void clear() { read_ = write_ = 0; }
    // Gives the block back to the pool when nothing is buffered.
    void release_if_empty();
    void release();

private:
    BufferPool* pool_;
    std::unique_ptr<char[]> block_;
    std::uint32_t read_ = 0;
    std::uint32_t write_ = 0;
};

} // namespace relayguard::proxy
