#!/usr/bin/env python3
"""Runs relayguard's integration tests (Python 3 standard library only).

    python3 tests/integration/run.py                                  every test
    python3 tests/integration/run.py test_relay                       one module
    python3 tests/integration/run.py test_relay.RelayTests            one class
    python3 tests/integration/run.py test_relay.RelayTests.test_x     one test (CTest runs each like this)
    python3 tests/integration/run.py --list                           every test name, one per line
    options: --binary PATH (default: $RELAYGUARD_BINARY, else build/dev/firmware/relayguard), -q

Exit status: 0 when every selected test passed, 1 when one failed, 77 when all of them were skipped
(CTest's SKIP_RETURN_CODE), 2 for a usage error or a name that selects no test.
"""

import argparse
import os
import sys
import unittest
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = Path(__file__).resolve().parent
SKIPPED_ALL = 77


def all_tests(loader):
    return loader.discover(str(HERE), pattern="test_*.py", top_level_dir=str(HERE))


def flatten(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from flatten(item)
        else:
            yield item


def main():
    parser = argparse.ArgumentParser(description="relayguard integration tests")
    parser.add_argument("names", nargs="*", help="module, module.Class or module.Class.test_name")
    parser.add_argument("--list", action="store_true", help="print every test name and exit")
    parser.add_argument("--binary", help="the relayguard executable to test")
    parser.add_argument("-q", "--quiet", action="store_true", help="less output")
    arguments = parser.parse_args()

    sys.path.insert(0, str(HERE))
    if arguments.binary:
        os.environ["RELAYGUARD_BINARY"] = str(Path(arguments.binary).resolve())
    loader = unittest.TestLoader()

    if arguments.list:
        for test in flatten(all_tests(loader)):
            print(test.id())
        return 0 if not loader.errors else 2

    suite = loader.loadTestsFromNames(arguments.names) if arguments.names else all_tests(loader)
    tests = list(flatten(suite))
    broken = [test for test in tests if type(test).__name__ in ("_FailedTest", "ModuleImportFailure")]
    if not tests or loader.errors or broken:
        for error in loader.errors:
            sys.stderr.write(error + "\n")
        if broken:
            unittest.TextTestRunner(verbosity=2).run(unittest.TestSuite(broken))
        sys.stderr.write(f"run.py: no test selected by {arguments.names}\n" if not tests else "")
        return 2

    result = unittest.TextTestRunner(verbosity=1 if arguments.quiet else 2).run(unittest.TestSuite(tests))
    if not result.wasSuccessful():
        return 1
    if result.testsRun and len(result.skipped) == result.testsRun:
        return SKIPPED_ALL
    return 0


if __name__ == "__main__":
    sys.exit(main())
