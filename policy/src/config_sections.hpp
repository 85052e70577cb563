#pragma once
// Internal to the configuration loader: one reader per element directly under <relayguard>. Each reads
// its element and children into the draft and reports what is wrong with them; none looks at other
// sections (that is the job of the checks that run once everything is read).
#include "config_draft.hpp"
#include "config_problems.hpp"

#include <tinyxml2.h>

namespace relayguard::policy::config_detail {

// Server side: where relayguard listens, forwards, and how it behaves.
void read_listen_section(const tinyxml2::XMLElement& element, ConfigDraft& draft, ProblemLog& log);
void read_upstream_section(const tinyxml2::XMLElement& element, ConfigDraft& draft, ProblemLog& log);
void read_identity_section(const tinyxml2::XMLElement& element, ConfigDraft& draft, ProblemLog& log);
void read_tls_section(const tinyxml2::XMLElement& element, ConfigDraft& draft, ProblemLog& log);
void read_limits_section(const tinyxml2::XMLElement& element, ConfigDraft& draft, ProblemLog& log);
void read_data_section(const tinyxml2::XMLElement& element, ConfigDraft& draft, ProblemLog& log);
void read_log_section(const tinyxml2::XMLElement& element, ConfigDraft& draft, ProblemLog& log);
// <metrics listen>: the Prometheus endpoint (off without the element).
void read_metrics_section(const tinyxml2::XMLElement& element, ConfigDraft& draft, ProblemLog& log);

// Platform: how the process runs on the appliance.
void read_run_section(const tinyxml2::XMLElement& element, ConfigDraft& draft, ProblemLog& log);
void read_watchdog_section(const tinyxml2::XMLElement& element, ConfigDraft& draft, ProblemLog& log);

// Access: who may connect, relay and authenticate.
void read_clients_section(const tinyxml2::XMLElement& element, ConfigDraft& draft, ProblemLog& log);
void read_relay_section(const tinyxml2::XMLElement& element, ConfigDraft& draft, ProblemLog& log);
void read_auth_section(const tinyxml2::XMLElement& element, ConfigDraft& draft, ProblemLog& log);

} // namespace relayguard::policy::config_detail
