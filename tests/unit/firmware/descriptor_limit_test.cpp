// The descriptor limit raised at boot.
#include "descriptor_limit.hpp"

#include <catch2/catch.hpp>

#include <sys/resource.h>

namespace descriptor_limit_test {

// Puts the process's RLIMIT_NOFILE back as it was when the test began.
struct KeepLimit {
    KeepLimit() { REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0); }
    ~KeepLimit() { setrlimit(RLIMIT_NOFILE, &saved); }
    rlimit saved{};
};

} // namespace descriptor_limit_test

TEST_CASE("the soft descriptor limit is raised to the hard one", "[descriptor_limit]") {
    descriptor_limit_test::KeepLimit keep;
    rlimit lowered = keep.saved;
    lowered.rlim_cur = 64;
    REQUIRE((keep.saved.rlim_max == RLIM_INFINITY || keep.saved.rlim_max > 64)); // room to lower the soft one
    REQUIRE(setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    const relayguard::firmware::DescriptorLimit limit = relayguard::firmware::raise_descriptor_limit();
    CHECK(limit.error.empty());
    CHECK(limit.before == 64);
    rlimit now{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &now) == 0);
    CHECK(limit.now == now.rlim_cur);
    if (keep.saved.rlim_max != RLIM_INFINITY) {
        CHECK(now.rlim_cur == keep.saved.rlim_max);
    }
    // Already at the hard limit: nothing changes.
    const relayguard::firmware::DescriptorLimit again = relayguard::firmware::raise_descriptor_limit();
    CHECK(again.before == again.now);
    CHECK(again.now == now.rlim_cur);
}

TEST_CASE("descriptors needed count both legs of every session", "[descriptor_limit]") {
    CHECK(relayguard::firmware::descriptors_needed(256, 1) == 2 * 256 + 1 + 32);
    CHECK(relayguard::firmware::descriptors_needed(1, 3) == 2 + 3 + 32);
}
