"""The abuse limits on mail, over the wire: messages and recipients per client and per AUTH login per
<limits mail-rate-window>, answered 450 4.7.1 with a Postfix-shaped reject line naming the client or
the login; a login over its rate in repeated windows disabled for <limits login-lockout>; other logins
and clients unaffected; counts kept across a reload as the AUTH lockout's are."""

import re
import unittest

if __package__:
    from . import harness as h
    from .test_tls import PASSWORD, TlsTestCase
else:
    import harness as h
    from test_tls import PASSWORD, TlsTestCase

REJECT = (r"NOQUEUE: reject: {command} from unknown\[{client}\]: 450 4\.7\.1 Error: {what}; "
          r"from=<{sender}> {to}proto=ESMTP helo=<client\.test>$")


class MailRateTests(TlsTestCase):
    def start_limited(self, sink, **limits):
        users = [{"name": name, "password-hash": self.password_hash} for name in ("alice", "bob")]
        return self.start_secure(sink, users=users, limits=limits)

    def session(self, relayguard, user=None, source=h.UNTRUSTED_CLIENT):
        client, _ = self.tls_greeted(relayguard, source=source)
        if user:
            self.login(client, user)
        return client

    def test_login_recipient_rate_refuses_across_sessions_and_clients(self):
        sink = self.start_sink()
        relayguard = self.start_limited(sink, **{"max-login-recipient-rate": 3, "mail-rate-window": "1h"})
        first = self.session(relayguard, "alice", source="127.0.0.2")
        self.assertReply(first.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        for number in range(2):
            self.assertReply(first.command(f"RCPT TO:<user{number}@remote.test>"), 250)
        self.assertReply(first.command("QUIT"), 221)
        # The same login from another address: its third recipient is the last one within the rate.
        second = self.session(relayguard, "alice", source="127.0.0.3")
        self.assertReply(second.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(second.command("RCPT TO:<user2@remote.test>"), 250)
        refused = second.command("RCPT TO:<user3@remote.test>")
        self.assertEqual(refused.line, "450 4.7.1 Error: too many recipients from login alice")
        relayguard.wait_for_log(REJECT.format(command="RCPT", client=r"127\.0\.0\.3",
                                              what="too many recipients from login alice",
                                              sender=re.escape(h.OUTSIDE_SENDER), to=r"to=<user3@remote\.test> "))
        # The accepted recipients are still delivered; the refused one never reaches the upstream.
        self.assertReply(second.command("DATA"), 354)
        self.assertReply(second.command("Subject: rate\r\n\r\nbody\r\n."), 250)
        # Another login, and a client without AUTH, are not affected.
        other = self.session(relayguard, "bob", source="127.0.0.3")
        self.assertReply(other.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(other.command("RCPT TO:<user4@remote.test>"), 250)
        anonymous = self.session(relayguard, source="127.0.0.3")
        self.assertReply(anonymous.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(anonymous.command(f"RCPT TO:<{h.LOCAL_RECIPIENT}>"), 250)
        self.settle(relayguard, sink)
        self.assertFalse(sink.saw_recipient("user3@remote.test"))
        self.assertTrue(sink.saw_recipient("user2@remote.test"))

    def test_client_message_rate_refuses_mail_and_exempts_the_allowlist(self):
        sink = self.start_sink()
        relayguard = self.start_limited(sink, **{"max-message-rate": 2, "max-errors": 2})
        client = self.session(relayguard, source="127.0.0.2")
        for _ in range(2):
            self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
            self.assertReply(client.command("RSET"), 250)
        refused = client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>")
        self.assertEqual(refused.line, "450 4.7.1 Error: too much mail from 127.0.0.2")
        relayguard.wait_for_log(REJECT.format(command="MAIL", client=r"127\.0\.0\.2",
                                              what=r"too much mail from 127\.0\.0\.2",
                                              sender=re.escape(h.OUTSIDE_SENDER), to=""))
        # Not a protocol error (max-errors is 2), and the session goes on: the next MAIL is refused the
        # same way.
        self.assertEqual(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>").line, refused.line)
        self.assertEqual(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>").line, refused.line)
        self.assertReply(client.command("NOOP"), 250)
        # The relay allowlist (127.0.0.1) is not counted; neither is another client.
        trusted = self.session(relayguard, source=h.TRUSTED_CLIENT)
        for _ in range(4):
            self.assertReply(trusted.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
            self.assertReply(trusted.command("RSET"), 250)
        other = self.session(relayguard, source="127.0.0.5")
        self.assertReply(other.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)

    def test_login_over_its_rate_is_disabled_then_auth_is_refused(self):
        sink = self.start_sink()
        relayguard = self.start_limited(sink, **{"max-login-message-rate": 1, "login-lockout-after": 1,
                                                 "login-lockout": "1h"})
        client = self.session(relayguard, "alice")
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(client.command("RSET"), 250)
        # The message that takes it over its rate for the login-lockout-after'th time disables it.
        self.assertEqual(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>").line,
                         "450 4.7.1 Error: login alice is disabled for sending too much mail")
        relayguard.wait_for_log(r"warning: login alice disabled for 3600s: over its mail rate in 1 windows, "
                                r"the last from unknown\[127\.0\.0\.2\]$")
        # The session already logged in stays refused.
        self.assertEqual(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>").line,
                         "450 4.7.1 Error: login alice is disabled for sending too much mail")
        # A new AUTH as alice is answered 454 whatever the password, before it is checked.
        for password in (PASSWORD, "not the password"):
            fresh = self.session(relayguard, source="127.0.0.6")
            reply = fresh.command(f"AUTH PLAIN {h_plain('alice', password)}")
            self.assertEqual(reply.line, "454 4.7.0 Temporary authentication failure")
        relayguard.wait_for_log(r"warning: unknown\[127\.0\.0\.6\]: AUTH refused: login alice is disabled "
                                r"for sending too much mail$")
        # bob is not affected.
        bob = self.session(relayguard, "bob", source="127.0.0.6")
        self.assertReply(bob.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)

    def test_reload_keeps_the_counts(self):
        sink = self.start_sink()
        limits = {"max-login-recipient-rate": 1, "login-lockout-after": 2, "mail-rate-window": "1h"}
        relayguard = self.start_limited(sink, **limits)
        client = self.session(relayguard, "alice")
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(client.command("RCPT TO:<one@remote.test>"), 250)
        self.assertEqual(client.command("RCPT TO:<two@remote.test>").code, 450)
        client.close()
        # A reload that changes another limit keeps alice's window: her next recipient is still over.
        relayguard.reload(limits=dict(limits, **{"max-recipients": 50}))
        again = self.session(relayguard, "alice")
        self.assertReply(again.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertEqual(again.command("RCPT TO:<three@remote.test>").line,
                         "450 4.7.1 Error: too many recipients from login alice")


class AuthenticatedPoolTests(TlsTestCase):
    def test_a_session_that_logs_in_gives_its_untrusted_slot_back(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink, limits={"max-connections": 1, "trusted-connections": 4})
        first, _ = self.tls_greeted(relayguard, source="127.0.0.2")
        refused = self.connect(relayguard.listener("starttls"), source="127.0.0.3")
        self.assertEqual(refused.read_reply().line, f"421 4.7.0 {h.RELAYGUARD_HOSTNAME} Too many connections")
        self.login(first)
        # alice's session now counts in the trusted pool: the internet's one slot is free again, once.
        second = self.greeted(relayguard.listener("starttls"), source="127.0.0.3")
        third = self.connect(relayguard.listener("starttls"), source="127.0.0.5")
        self.assertEqual(third.read_reply().line, f"421 4.7.0 {h.RELAYGUARD_HOSTNAME} Too many connections")
        self.assertReply(first.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(first.command(f"RCPT TO:<{h.REMOTE_RECIPIENT}>"), 250)
        self.assertReply(second.command("QUIT"), 221)


def h_plain(user, password):
    if __package__:
        from .test_tls import plain_response
    else:
        from test_tls import plain_response
    return plain_response(user, password)


if __name__ == "__main__":
    unittest.main()
