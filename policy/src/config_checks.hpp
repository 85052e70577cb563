#pragma once
// Internal to the configuration loader: the checks that need the whole file read first, because they
// relate one section to another.
#include "config_draft.hpp"
#include "config_problems.hpp"

namespace relayguard::policy::config_detail {

// <listen> and <upstream> are required; listeners default their TLS mode and need <tls> for it; no two
// listeners take the same socket; the upstream is not relayguard itself.
void check_consistency(ConfigDraft& draft, ProblemLog& log);

// The safety lint (config_lint.cpp). Errors: a relay allowlist so wide that relayguard would be an open
// relay. Run on every file, so that they appear together with any other errors.
void lint_relay_allowlist(const ConfigDraft& draft, ProblemLog& log);
// Warnings: configurations that load but cannot work as meant (nobody may relay, no mail can flow at all,
// passwords without TLS). Run only on an otherwise valid draft, whose picture is complete.
void lint_mail_flow(const ConfigDraft& draft, ProblemLog& log);

} // namespace relayguard::policy::config_detail
