#!/usr/bin/env python3
"""Checks an OpenWrt .ipk against the SDK Makefile it was built from (for tests/packaging/check-ipk.sh).

    ipk_checks.py IPK MAKEFILE ARCH BINARY EXTRACT_DIR

Prints one line per check, "pass<TAB>what" or "fail<TAB>what: why", and unpacks data.tar.gz into
EXTRACT_DIR/data and control.tar.gz into EXTRACT_DIR/control for the checks the shell script makes.
It reads the Makefile itself rather than trusting build-ipk.sh's reading of it, and it knows the
format from OpenWrt's scripts/ipkg-build and include/package-pack.mk, not from build-ipk.sh.
"""
import gzip
import io
import os
import re
import sys
import tarfile

ipk, makefile, arch, binary, extract = sys.argv[1:6]
openwrt_dir = os.path.dirname(os.path.abspath(makefile))
top = os.path.abspath(os.path.join(openwrt_dir, "..", "..", ".."))
mk = open(makefile, encoding="utf-8").read()


def report(ok, what, why=""):
    print(("pass" if ok else "fail") + "\t" + what + ("" if ok or not why else ": " + why))


def equal(what, got, want):
    report(got == want, what, f"got {got!r}, expected {want!r}")


def var(name):
    m = re.search(rf"^{re.escape(name)}:=(.*)$", mk, re.M)
    return m.group(1).strip() if m else None


def define(name):
    m = re.search(rf"^define {re.escape(name)}\n(.*?)^endef$", mk, re.M | re.S)
    return m.group(1).rstrip("\n") if m else None


def package_field(name):
    m = re.search(rf"^\s*{name}:=(.*)$", define("Package/relayguard") or "", re.M)
    return m.group(1).strip() if m else None


def members(tar):
    return [(m.name, m) for m in tar.getmembers()]


def open_tar_gz(data, what):
    if data[:2] != b"\x1f\x8b":
        report(False, what + " is gzip-compressed", "no gzip magic")
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")


def check_owner_and_time(what, tar_members):
    owners = {(m.uid, m.gid) for _, m in tar_members}
    equal(what + ": every entry owned 0:0", owners, {(0, 0)})
    times = {m.mtime for _, m in tar_members}
    report(len(times) == 1, what + ": one fixed mtime for every entry", f"mtimes {sorted(times)}")
    return times


name = var("PKG_NAME")
version = f"{var('PKG_VERSION')}-r{var('PKG_RELEASE')}"
equal("file name is <PKG_NAME>_<PKG_VERSION>-r<PKG_RELEASE>_<arch>.ipk", os.path.basename(ipk),
      f"{name}_{version}_{arch}.ipk")

# --- The outer archive (ipkg-build: tar of ./debian-binary ./data.tar.gz ./control.tar.gz | gzip -n).
raw = open(ipk, "rb").read()
report(raw[:2] == b"\x1f\x8b", "outer archive is a gzip'd tar")
report(raw[4:8] == b"\0\0\0\0", "outer gzip has no timestamp (gzip -n)", f"mtime bytes {raw[4:8].hex()}")
outer = open_tar_gz(raw, "outer archive")
outer_members = members(outer)
equal("outer archive holds ./debian-binary ./data.tar.gz ./control.tar.gz in that order",
      [n for n, _ in outer_members], ["./debian-binary", "./data.tar.gz", "./control.tar.gz"])
check_owner_and_time("outer archive", outer_members)
blobs = {n: outer.extractfile(m).read() for n, m in outer_members if m.isfile()}
equal("debian-binary is 2.0", blobs.get("./debian-binary"), b"2.0\n")
for inner in ("./data.tar.gz", "./control.tar.gz"):
    report(blobs.get(inner, b"")[4:8] == b"\0\0\0\0", f"{inner} has no gzip timestamp (gzip -n)")

data_raw = blobs.get("./data.tar.gz", b"")
data = open_tar_gz(data_raw, "data.tar.gz")
control_tar = open_tar_gz(blobs.get("./control.tar.gz", b""), "control.tar.gz")
data_members = members(data)
control_members = members(control_tar)
data_times = check_owner_and_time("data.tar.gz", data_members)
check_owner_and_time("control.tar.gz", control_members)
equal("data.tar.gz and control.tar.gz share the mtime", {m.mtime for _, m in control_members}, data_times)
for what, tar_members in (("data.tar.gz", data_members), ("control.tar.gz", control_members)):
    names = [n for n, _ in tar_members]
    equal(what + ": entries in name order (--sort=name)", names,
          sorted(names, key=lambda n: n.rstrip("/").split("/")))
    formats = {m.type for _, m in tar_members} - {tarfile.REGTYPE, tarfile.DIRTYPE}
    equal(what + ": only plain files and directories", formats, set())

# --- data.tar.gz: OpenWrt's layout, INSTALL_DIR/BIN 0755, INSTALL_DATA 0644, INSTALL_CONF 0600.
# (tarfile gives directories without their trailing "/": "./etc/" is "./etc".)
expected_data = {
    ".": ("d", 0o755),
    "./etc": ("d", 0o755),
    "./etc/config": ("d", 0o755),
    "./etc/config/relayguard": ("f", 0o600),
    "./etc/init.d": ("d", 0o755),
    "./etc/init.d/relayguard": ("f", 0o755),
    "./etc/relayguard": ("d", 0o755),
    "./etc/relayguard/relayguard.xml": ("f", 0o644),
    "./usr": ("d", 0o755),
    "./usr/sbin": ("d", 0o755),
    "./usr/sbin/relayguard": ("f", 0o755),
    "./usr/share": ("d", 0o755),
    "./usr/share/acl.d": ("d", 0o755),
    "./usr/share/acl.d/relayguard.json": ("f", 0o644),
}
got_data = {n: ("d" if m.isdir() else "f", m.mode) for n, m in data_members}
equal("data.tar.gz holds exactly the expected files and directories", sorted(got_data), sorted(expected_data))
wrong_modes = {n: (t, oct(mode)) for n, (t, mode) in got_data.items() if expected_data.get(n, (t, mode)) != (t, mode)}
equal("data.tar.gz modes (dirs and INSTALL_BIN 0755, INSTALL_DATA 0644, INSTALL_CONF 0600)", wrong_modes, {})
data_files = sorted("/" + n[2:] for n, m in data_members if m.isfile())

# The Makefile's install recipe names the same destinations, from the same sources.
install = define("Package/relayguard/install") or ""
destinations, sources = [], {}
for line in install.splitlines():
    words = line.split()
    if len(words) == 3 and words[0] in ("$(INSTALL_BIN)", "$(INSTALL_DATA)", "$(INSTALL_CONF)"):
        src, dest = words[1], words[2]
        dest = dest.replace("$(1)", "", 1)
        if dest.endswith("/"):
            dest += os.path.basename(src)
        destinations.append(dest)
        src = src.replace("$(PKG_BUILD_DIR)", top)
        src = os.path.join(openwrt_dir, src[2:]) if src.startswith("./") else src
        sources[dest] = binary if src.startswith("$(PKG_INSTALL_DIR)") else src
equal("Makefile Package/relayguard/install names the files of data.tar.gz", sorted(destinations), data_files)
for dest, src in sorted(sources.items()):
    member = "./" + dest[1:]
    packaged = data.extractfile(member).read() if member in got_data else None
    report(os.path.isfile(src) and packaged == open(src, "rb").read(),
           f"{dest} is {os.path.relpath(src, top) if src.startswith(top) else src}", "contents differ")

# --- control.tar.gz.
expected_control = {".": ("d", 0o755), "./control": ("f", 0o644), "./conffiles": ("f", 0o644),
                    "./postinst": ("f", 0o755), "./prerm": ("f", 0o755)}
for script in ("preinst", "postinst", "prerm", "postrm"):
    if define(f"Package/relayguard/{script}") is not None:
        suffix = "-pkg" if script in ("postinst", "prerm") else ""
        expected_control[f"./{script}{suffix}"] = ("f", 0o755)
got_control = {n: ("d" if m.isdir() else "f", m.mode) for n, m in control_members}
equal("control.tar.gz entries and modes", {n: (t, oct(m)) for n, (t, m) in got_control.items()},
      {n: (t, oct(m)) for n, (t, m) in expected_control.items()})
texts = {n: control_tar.extractfile(m).read().decode() for n, m in control_members if m.isfile()}

# control: the fields of package-pack.mk's Package/<name>/CONTROL, in its order.
control_text = texts.get("./control", "")
fields, order = {}, []
for line in control_text.splitlines():
    if line.startswith(" "):
        fields[order[-1]] += "\n" + line
        continue
    key, _, value = line.partition(":")
    fields[key] = value.strip() if key != "Description" else value
    order.append(key)
pack_order = ["Package", "Version", "Depends", "Conflicts", "Provides", "Alternatives", "Source", "SourceName",
              "License", "LicenseFiles", "Section", "Require-User", "SourceDateEpoch", "URL", "ABIVersion",
              "CPE-ID", "Status", "Essential", "Maintainer", "Architecture", "Installed-Size", "Description"]
equal("control fields in package-pack.mk's order", order, [f for f in pack_order if f in order])
expected_fields = {
    "Package": name,
    "Version": version,
    # Every non-kernel OpenWrt package depends on libc (PKG_DEFAULT_DEPENDS); a static binary needs
    # none of the SDK build's +libmbedtls +libstdcpp.
    "Depends": "libc",
    "Source": f"package/{name}",
    "SourceName": name,
    "License": var("PKG_LICENSE"),
    "Section": package_field("SECTION"),
    "Require-User": package_field("USERID"),
    "URL": package_field("URL"),
    "Architecture": arch,
    # ipkg-build: the size in bytes of the uncompressed data tar.
    "Installed-Size": str(len(gzip.decompress(data_raw))),
}
for key, want in expected_fields.items():
    equal(f"control {key}: {want}", fields.get(key), want)
report(fields.get("SourceDateEpoch", "").isdigit() and int(fields["SourceDateEpoch"]) in data_times,
       "control SourceDateEpoch is the packaged files' mtime", repr(fields.get("SourceDateEpoch")))
description = "\n".join(" " + line.lstrip() for line in (define("Package/relayguard/description") or "").splitlines())
equal("control Description is the Makefile's description", fields.get("Description"), " " + description)
report(control_text.endswith("\n"), "control ends with a newline")

# conffiles: the Makefile's list, and every file under /etc except the init script.
conffiles = (define("Package/relayguard/conffiles") or "").split()
equal("conffiles is the Makefile's list (sorted)", texts.get("./conffiles", "").splitlines(), sorted(conffiles))
etc_files = [f for f in data_files if f.startswith("/etc/") and not f.startswith("/etc/init.d/")]
equal("every file under /etc but init.d is a conffile", sorted(set(etc_files) - set(conffiles)), [])

# Maintainer scripts: package-pack.mk's generated postinst/prerm, the Makefile's own as *-pkg.
default_postinst = ('#!/bin/sh\n[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0\n'
                    '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0\n'
                    '. ${IPKG_INSTROOT}/lib/functions.sh\ndefault_postinst $0 $@\n')
default_prerm = ('#!/bin/sh\n[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0\n'
                 '. ${IPKG_INSTROOT}/lib/functions.sh\ndefault_prerm $0 $@\n')
equal("postinst is OpenWrt's default_postinst caller", texts.get("./postinst"), default_postinst)
equal("prerm is OpenWrt's default_prerm caller", texts.get("./prerm"), default_prerm)
own_postinst = define("Package/relayguard/postinst")
if own_postinst is not None:
    equal("postinst-pkg is the Makefile's postinst ($$ as $)", texts.get("./postinst-pkg"),
          own_postinst.replace("$$", "$") + "\n")

for tar, where in ((data, "data"), (control_tar, "control")):
    # The "data" filter (Python 3.12, and backported) refuses links and paths out of the folder.
    options = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    tar.extractall(os.path.join(extract, where), **options)
