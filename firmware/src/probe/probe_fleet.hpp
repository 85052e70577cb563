#pragma once
// `relayguard probe --targets FILE`: the same probe against every server of a fleet, a bounded number at
// a time, so an admin can audit every box after a rollout. One JSON line per target, as each finishes.
#include "probe_options.hpp"
#include "probe_report.hpp"
#include "text_output.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relayguard::firmware {

// Runs the whole probe of one server (probe_command.cpp); returns its exit status: 0 closed, 1 it
// relays, 2 the probe failed.
int run_probe(const ProbeOptions& options, ProbeReport& report);

// The targets of `text`: one HOST[:PORT] per line; blank lines and lines starting with '#' are
// skipped, as is anything after a '#'. Each target is `base` with its host and port. Nothing, with one
// line in `error` naming the line, when a line is not a target or there are too many.
std::optional<std::vector<ProbeOptions>> parse_probe_targets(std::string_view text, const ProbeOptions& base,
                                                             std::string& error);

// Reads options.targets_file and probes every target with options.parallel workers. Exit status 1 when
// any target relays, else 2 when any probe failed (or the file cannot be used), else 0.
int probe_fleet(const ProbeOptions& options, TextOutput& out, TextOutput& err);

} // namespace relayguard::firmware
