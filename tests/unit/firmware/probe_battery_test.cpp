// The relay battery of `relayguard probe`: every form nmap and Nessus try, and the routing forms, built
// from the names the probe learns; and the smuggling endings.
#include "probe/probe_battery.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

namespace probe_battery_test {

relayguard::firmware::BatteryTargets targets() {
    return {"from.test", "elsewhere.test", "mx.example.com", "192.0.2.1", ""};
}

const relayguard::firmware::RelayForm& form(const std::vector<relayguard::firmware::RelayForm>& forms,
                                            const std::string& name) {
    const auto found = std::find_if(forms.begin(), forms.end(),
                                    [&](const auto& candidate) { return candidate.name == name; });
    REQUIRE(found != forms.end());
    return *found;
}

} // namespace probe_battery_test

TEST_CASE("The battery has nmap's sixteen forms in order and every name once", "[probe]") {
    const auto forms = relayguard::firmware::relay_forms(probe_battery_test::targets());
    REQUIRE(forms.size() == 31);
    std::set<std::string> names;
    for (const auto& form : forms) {
        names.insert(form.name);
        CHECK(form.mail_from.front() == '<');
        CHECK(form.rcpt_to.front() == '<');
        CHECK(form.rcpt_to.back() == '>');
    }
    CHECK(names.size() == forms.size());
    CHECK(std::count_if(forms.begin(), forms.end(), [](const auto& form) { return form.origin == "nmap"; }) ==
          16);
    CHECK(forms.front().name == "nmap-null-sender");
    CHECK(forms.front().mail_from == "<>");
}

TEST_CASE("The forms fill in the server's name and address literal as the scanners do", "[probe]") {
    const auto forms = relayguard::firmware::relay_forms(probe_battery_test::targets());
    using probe_battery_test::form;
    CHECK(form(forms, "nmap-percent-hack-literal").rcpt_to ==
          "<relayguard-probe%elsewhere.test@[192.0.2.1]>");
    CHECK(form(forms, "nmap-percent-hack-literal").mail_from == "<relayguard-probe@[192.0.2.1]>");
    CHECK(form(forms, "nmap-percent-hack-server").rcpt_to ==
          "<relayguard-probe%elsewhere.test@mx.example.com>");
    CHECK(form(forms, "nmap-quoted-at-literal").rcpt_to ==
          "<\"relayguard-probe@elsewhere.test\"@[192.0.2.1]>");
    CHECK(form(forms, "nmap-source-route-server").rcpt_to ==
          "<@mx.example.com:relayguard-probe@elsewhere.test>");
    CHECK(form(forms, "nmap-bang-path").rcpt_to == "<elsewhere.test!relayguard-probe>");
    CHECK(form(forms, "nessus-bare-sender").mail_from == "<nessus>");
    CHECK(form(forms, "routing-upper-case-domain").rcpt_to == "<relayguard-probe@ELSEWHERE.TEST>");
    CHECK(form(forms, "routing-source-route-chain").rcpt_to ==
          "<@mx.example.com,@[192.0.2.1]:relayguard-probe@elsewhere.test>");
}

TEST_CASE("A local domain given on the command line replaces the server name in the routing forms",
          "[probe]") {
    auto targets = probe_battery_test::targets();
    targets.local_domain = "example.com";
    const auto forms = relayguard::firmware::relay_forms(targets);
    CHECK(probe_battery_test::form(forms, "routing-percent-local").rcpt_to ==
          "<relayguard-probe%elsewhere.test@example.com>");
    // nmap's own forms keep the server's name, as nmap does.
    CHECK(probe_battery_test::form(forms, "nmap-percent-hack-server").rcpt_to ==
          "<relayguard-probe%elsewhere.test@mx.example.com>");
}

TEST_CASE("IPv6 servers get IPv6 address literals", "[probe]") {
    CHECK(relayguard::firmware::address_literal("2001:db8::1") == "[IPv6:2001:db8::1]");
    CHECK(relayguard::firmware::address_literal("192.0.2.1") == "[192.0.2.1]");
}

TEST_CASE("The smuggling endings are the eleven the public scanners send", "[probe]") {
    const auto forms = relayguard::firmware::smuggling_forms();
    REQUIRE(forms.size() == 11);
    for (const auto& form : forms) {
        CHECK(form.ending.find('.') != std::string::npos);
        CHECK(form.ending != "\r\n.\r\n"); // the one correct ending is never among them
    }
    CHECK(forms[6].ending == std::string("\r\n\0.\r\n", 6));
}
