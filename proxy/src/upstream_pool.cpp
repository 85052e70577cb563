#include "upstream_pool.hpp"

#include "upstream_link.hpp"

#include <algorithm>

namespace relayguard::proxy {
namespace upstream_pool_detail {

// After a prewarm connection failed, the next try waits this long (or for a session to park one): a
// dead upstream is not hammered, and comes back into use within seconds of answering again.
constexpr std::chrono::seconds prewarm_retry{10};

} // namespace upstream_pool_detail

// One connection the pool holds, and its owner while it does.
class UpstreamPool::Slot final : public UpstreamLink::Owner, public std::enable_shared_from_this<Slot> {
public:
    Slot(UpstreamPool& pool, std::shared_ptr<const SessionSettings> settings, SlotState state)
        : pool_(pool.weak_from_this()), metrics_(pool.metrics_), log_(pool.log_),
          settings_(std::move(settings)), state_(state), idle_timer_(pool.io_) {}

    std::shared_ptr<UpstreamLink> link;

    SlotState state() const { return state_; }
    const SessionSettings& settings() const { return *settings_; }
    void stop_timer() { idle_timer_.cancel(); }
    // Taken by a session: an idle-timer completion already queued must find nothing to close.
    std::shared_ptr<UpstreamLink> hand_over() {
        state_ = SlotState::taken;
        idle_timer_.cancel();
        return std::move(link);
    }

    // Parked after a session: RSET, and idle after its 250.
    void check() {
        state_ = SlotState::checking;
        link->set_owner(*this);
        link->command("RSET");
    }
    void open() {
        link->open(*settings_->config, settings_->hostname, ClientIdentity{}, settings_->upstream_tls);
    }
    void become_idle() {
        state_ = SlotState::idle;
        idle_timer_.expires_after(settings_->config->upstream.pool_idle_time);
        idle_timer_.async_wait([self = shared_from_this()](const asio::error_code& error) {
            if (!error && self->state_ == SlotState::idle && self->link) {
                self->link->quit();
                self->end(false);
            }
        });
    }

private:
    void upstream_ready() override { // a prewarm connection is open
        if (auto pool = pool_.lock()) {
            pool->slot_idle(*this);
        }
    }
    void upstream_replied(const ParsedReply& reply) override { // the RSET
        if (reply.code == 250) {
            if (auto pool = pool_.lock()) {
                pool->slot_idle(*this);
            }
            return;
        }
        log_.info("upstream connection not pooled: RSET answered " + std::to_string(reply.code));
        link->quit();
        end(false);
    }
    void upstream_wrote() override { // never asked for: a link the pool holds sends no body
        link->abort();
        end(false);
    }
    void upstream_failed(UpstreamFault fault, std::string_view detail) override {
        // Not counted in relayguard_upstream_errors_total: no client heard of it.
        const bool prewarm_failed = state_ == SlotState::opening;
        if (prewarm_failed) {
            if (auto pool = pool_.lock(); pool && !pool->prewarm_failing_) {
                log_.warning("upstream prewarm connection failed: " + std::string(describe(fault)) + ": " +
                             std::string(detail));
            }
        }
        end(prewarm_failed);
    }
    void upstream_notice(bool warning, std::string_view text) override {
        const std::string line = std::string(text) + " (pooled upstream connection)";
        warning ? log_.warning(line) : log_.info(line);
    }
    std::shared_ptr<void> keep_alive() override { return shared_from_this(); }
    Metrics& metrics() override { return metrics_; }

    void end(bool prewarm_failed) {
        idle_timer_.cancel();
        if (auto pool = pool_.lock()) {
            pool->slot_ended(*this, prewarm_failed);
        }
    }

    std::weak_ptr<UpstreamPool> pool_;
    Metrics& metrics_;
    EventLog& log_;
    // Keeps the configuration the link points into alive while the pool holds it.
    std::shared_ptr<const SessionSettings> settings_;
    SlotState state_;
    SteadyTimer idle_timer_;
};

UpstreamPool::UpstreamPool(asio::io_context& io, BufferPool& buffers, EventLog& log, Metrics& metrics)
    : io_(io), buffers_(buffers), log_(log), metrics_(metrics), retry_timer_(io) {
}

UpstreamPool::~UpstreamPool() {
    for (const std::shared_ptr<Slot>& slot : slots_) {
        slot->stop_timer();
        slot->link->abort();
    }
}

void UpstreamPool::configure(std::shared_ptr<const SessionSettings> settings) {
    settings_ = std::move(settings);
    std::vector<std::shared_ptr<Slot>> old;
    old.swap(slots_);
    for (const std::shared_ptr<Slot>& slot : old) {
        slot->stop_timer();
        slot->link->quit();
    }
    prewarm_failing_ = false;
    retry_timer_.cancel();
    retry_pending_ = false;
    publish_idle_count();
    refill();
}

bool UpstreamPool::park(std::shared_ptr<UpstreamLink>& link,
                        const std::shared_ptr<const SessionSettings>& settings) {
    if (closed_ || !link || settings != settings_ || !link->parkable()) {
        return false;
    }
    const policy::UpstreamConfig& upstream = settings->config->upstream;
    if (slots_.size() >= upstream.pool_size || link->transactions() >= upstream.pool_max_transactions) {
        return false;
    }
    auto slot = std::make_shared<Slot>(*this, settings, SlotState::checking);
    slot->link = std::move(link);
    slots_.push_back(slot);
    slot->check();
    return true;
}

std::shared_ptr<UpstreamLink> UpstreamPool::take(const SessionSettings& settings) {
    if (closed_ || &settings != settings_.get()) {
        return nullptr;
    }
    for (auto it = slots_.rbegin(); it != slots_.rend(); ++it) {
        if ((*it)->state() == SlotState::idle) {
            std::shared_ptr<Slot> slot = *it;
            slots_.erase(std::next(it).base());
            std::shared_ptr<UpstreamLink> link = slot->hand_over();
            publish_idle_count();
            refill();
            return link;
        }
    }
    return nullptr;
}

void UpstreamPool::close_all() {
    closed_ = true;
    retry_timer_.cancel();
    std::vector<std::shared_ptr<Slot>> held;
    held.swap(slots_);
    for (const std::shared_ptr<Slot>& slot : held) {
        slot->stop_timer();
        slot->link->quit();
    }
    publish_idle_count();
}

std::size_t UpstreamPool::idle_count() const {
    return static_cast<std::size_t>(
        std::count_if(slots_.begin(), slots_.end(),
                      [](const std::shared_ptr<Slot>& slot) { return slot->state() == SlotState::idle; }));
}

void UpstreamPool::slot_idle(Slot& slot) {
    if (slot.state() == SlotState::opening) {
        if (!slot.link->parkable()) {
            // Open, but not as configured (tls="starttls" fell back to clear text after a failed
            // handshake): never handed to a client, and retried later like a failed prewarm.
            slot.link->quit();
            slot_ended(slot, true);
            return;
        }
        prewarm_failing_ = false;
    }
    slot.become_idle();
    publish_idle_count();
}

void UpstreamPool::slot_ended(Slot& slot, bool prewarm_failed) {
    remove(slot);
    if (prewarm_failed) {
        prewarm_failing_ = true;
        if (!retry_pending_ && !closed_) {
            retry_pending_ = true;
            retry_timer_.expires_after(upstream_pool_detail::prewarm_retry);
            retry_timer_.async_wait([weak = weak_from_this()](const asio::error_code& error) {
                auto pool = weak.lock();
                if (error || !pool) {
                    return;
                }
                pool->retry_pending_ = false;
                pool->refill();
            });
        }
        return;
    }
    refill();
}

void UpstreamPool::remove(Slot& slot) {
    const auto it = std::find_if(slots_.begin(), slots_.end(),
                                 [&slot](const std::shared_ptr<Slot>& held) { return held.get() == &slot; });
    if (it != slots_.end()) {
        slots_.erase(it);
    }
    publish_idle_count();
}

void UpstreamPool::refill() {
    if (closed_ || !settings_ || retry_pending_) {
        return;
    }
    const unsigned prewarm = settings_->config->upstream.prewarm;
    while (slots_.size() < prewarm) {
        open_prewarmed();
    }
}

void UpstreamPool::open_prewarmed() {
    auto slot = std::make_shared<Slot>(*this, settings_, SlotState::opening);
    slot->link = std::make_shared<UpstreamLink>(io_, buffers_, *slot);
    slots_.push_back(slot);
    slot->open();
}

void UpstreamPool::publish_idle_count() {
    metrics_.upstream_pool_idle(idle_count());
}

} // namespace relayguard::proxy
