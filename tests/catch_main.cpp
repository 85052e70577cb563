// The one translation unit that holds Catch2's runner; kept out of unity batches on purpose.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
