#include <relayguard/proxy/buffer_pool.hpp>

#include <cstring>

namespace relayguard::proxy {

BufferPool::BufferPool(std::size_t block_size, std::size_t max_idle_blocks)
    : block_size_(block_size < UINT32_MAX ? block_size : UINT32_MAX - 1), max_idle_blocks_(max_idle_blocks) {
}

BufferPool::~BufferPool() = default;

std::unique_ptr<char[]> BufferPool::acquire() {
    if (idle_.empty()) {
        return std::unique_ptr<char[]>(new char[block_size_]);
    }
    std::unique_ptr<char[]> block = std::move(idle_.back());
    idle_.pop_back();
    return block;
}

void BufferPool::release(std::unique_ptr<char[]> block) {
    if (block && idle_.size() < max_idle_blocks_) {
        idle_.push_back(std::move(block));
    }
}

char* ByteBuffer::writable() {
    if (!block_) {
        block_ = pool_->acquire();
        read_ = write_ = 0;
    } else if (read_ > 0) {
        std::memmove(block_.get(), block_.get() + read_, write_ - read_);
        write_ -= read_;
        read_ = 0;
    }
    return block_.get() + write_;
}

bool ByteBuffer::append(std::string_view bytes) {
    char* destination = writable();
    const std::size_t room = capacity() - write_;
    const std::size_t count = bytes.size() < room ? bytes.size() : room;
    std::memcpy(destination, bytes.data(), count);
    write_ += static_cast<std::uint32_t>(count);
    return count == bytes.size();
}

void ByteBuffer::consume(std::size_t count) {
    read_ += static_cast<std::uint32_t>(count);
    if (read_ >= write_) {
        read_ = write_ = 0;
    }
}

void ByteBuffer::consume_and_wipe(std::size_t count) {
    // volatile: the compiler may not drop stores to memory it believes is never read again.
    volatile char* bytes = block_.get() + read_;
    for (std::size_t index = 0; index < count; ++index) {
        bytes[index] = 0;
    }
    consume(count);
}

void ByteBuffer::release_if_empty() {
    if (empty()) {
        release();
    }
}

void ByteBuffer::release() {
    if (block_) {
        pool_->release(std::move(block_));
    }
    read_ = write_ = 0;
}

} // namespace relayguard::proxy
