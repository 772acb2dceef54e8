"""Identity rules shared by every format: canonical ids, package names, check ids, image keys."""

from __future__ import annotations

from collectors.scanners.parsed import canonical_package, image_artifact, normalize_check_id, prefer_sources
from collectors.scanners.vulnids import canonical_id
from posture.records import AssetKind
from posture.vulnids import normalize_vuln_id


def test_canonical_id_prefers_cve_then_ghsa_then_the_rest() -> None:
    ids = {normalize_vuln_id(i) for i in ("ghsa-ABCD-efgh-ijkl", "cve-2021-44228", "DLA-1234-1", "CVE-2021-45046")}
    assert canonical_id(ids) == "CVE-2021-44228"
    assert canonical_id({"GHSA-abcd-efgh-ijkl", "DSA-5000-1"}) == "GHSA-abcd-efgh-ijkl"
    assert canonical_id({"GMS-2022-20"}) == "GMS-2022-20"
    assert canonical_id(set()) == ""


def test_maven_packages_are_named_group_colon_artifact() -> None:
    purl = "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar"
    assert canonical_package("log4j-core", purl) == "org.apache.logging.log4j:log4j-core"
    assert canonical_package("openssl", "pkg:deb/debian/openssl@3.0.2") == "openssl"


def test_check_ids_of_all_trivy_generations_agree() -> None:
    assert {normalize_check_id(i) for i in ("KSV-0001", "AVD-KSV-0001", "KSV001", "ksv001")} == {"KSV001"}
    assert normalize_check_id("DS-0002") == "DS002"
    assert normalize_check_id("custom-rule") == "CUSTOM-RULE"


def test_cvss_source_preference() -> None:
    assert prefer_sources(["redhat", "nvd", "ubuntu"], "ubuntu") == ["nvd", "ubuntu", "redhat"]
    assert prefer_sources(["nvd"], "nvd") == ["nvd"]


def test_image_key_is_config_digest_then_manifest_digest_then_tag() -> None:
    config, manifest = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    both = image_artifact(name="nginx:1.25", image_id=config, repo_digests=[f"nginx@{manifest}"])
    assert both is not None and (both.key, both.aliases) == (config, (manifest,))
    only_manifest = image_artifact(name="nginx:1.25", manifest_digests=[manifest.upper().replace("SHA", "sha")])
    assert only_manifest is not None and only_manifest.key == manifest
    by_tag = image_artifact(name="nginx")
    assert by_tag is not None and (by_tag.kind, by_tag.key) == (AssetKind.IMAGE, "docker.io/library/nginx:latest")
    assert image_artifact(name="") is None
    assert image_artifact(name="", image_id="not-a-digest") is None
