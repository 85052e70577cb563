#include <relayguard/proxy/tls_pump.hpp>

namespace relayguard::proxy {

TlsPump::TlsPump(std::shared_ptr<const TlsServerContext> context, BufferPool& pool)
    : session_(std::make_unique<TlsSession>(std::move(context))), received_(pool), to_send_(pool) {
}

TlsPump::TlsPump(std::shared_ptr<const TlsClientContext> context, std::string_view server_name,
                 BufferPool& pool)
    : session_(std::make_unique<TlsSession>(std::move(context), server_name)), received_(pool),
      to_send_(pool) {
}

TlsStatus TlsPump::handshake() {
    TlsIo io{received_.readable(), 0, &to_send_};
    const TlsStatus status = session_->handshake(io);
    received_.consume(io.input_used);
    return status;
}

TlsStatus TlsPump::read(char* plain, std::size_t capacity, ReadProgress& progress) {
    TlsIo io{received_.readable(), 0, &to_send_};
    progress = {};
    const TlsStatus status = session_->read(io, plain, capacity, progress.plaintext);
    received_.consume(io.input_used);
    progress.ciphertext_taken = io.input_used;
    return status;
}

TlsStatus TlsPump::write(const char* plain, std::size_t size, std::size_t& consumed) {
    TlsIo io{{}, 0, &to_send_};
    consumed = 0;
    return session_->write(io, plain, size, consumed);
}

TlsStatus TlsPump::close_notify() {
    TlsIo io{{}, 0, &to_send_};
    return session_->close_notify(io);
}

void TlsPump::release_buffers(bool only_empty) {
    for (ByteBuffer* buffer : {&received_, &to_send_}) {
        if (only_empty) {
            buffer->release_if_empty();
        } else {
            buffer->release();
        }
    }
}

} // namespace relayguard::proxy
