"""Load workers read proxy and CA settings from the environment once, and still honour them."""

from __future__ import annotations

import pytest

from automation.osticket.http import new_session, pin_environment


def test_pinned_session_keeps_the_environments_proxy_and_ca_bundle(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    session = pin_environment(new_session(1), "https://osticket.example.net/")
    assert session.trust_env is False
    assert session.proxies["https"] == "http://proxy.example:3128"
    assert session.verify == str(bundle)


def test_no_proxy_is_honoured_for_the_pinned_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    session = pin_environment(new_session(1), "http://127.0.0.1:8080/")
    assert "http" not in session.proxies
    assert session.verify is True


def test_netrc_credentials_still_apply_to_a_pinned_session(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine osticket.example.net login ops password not-for-logs\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    session = pin_environment(new_session(1), "https://osticket.example.net/")
    assert session.auth == ("ops", "not-for-logs")
