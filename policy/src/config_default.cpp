#include <relayguard/policy/config_loader.hpp>

namespace relayguard::policy {

// Written as a configuration file, and read by the same loader, so that the default can never hold
// anything a file could not.
const char* const embedded_default_config = R"xml(<relayguard>
  <listen address="127.0.0.1" port="2525"/>
  <upstream host="127.0.0.1" port="25"/>
  <relay require="network-or-auth">
    <allow network="127.0.0.0/8"/>
    <allow network="::1/128"/>
  </relay>
</relayguard>
)xml";

ConfigLoadResult load_embedded_default_config() {
    return load_config_text(embedded_default_config, embedded_default_source_name);
}

} // namespace relayguard::policy
