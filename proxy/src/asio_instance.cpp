// The one translation unit that compiles Asio (ASIO_SEPARATE_COMPILATION): every other file includes
// only Asio's declarations, which keeps builds fast on the two-core machines we build on.
#include <asio/impl/src.hpp>
