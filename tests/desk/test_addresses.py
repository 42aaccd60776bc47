"""The client's address: a proxy's header is believed only from a trusted proxy."""

from desk.addresses import client_address, trusted_networks

PROXIES = trusted_networks("10.0.0.5, 192.168.8.0/24")


def test_without_trusted_proxies_the_header_is_ignored():
    assert client_address("203.0.113.9", "198.51.100.1", trusted_networks("")) == "203.0.113.9"


def test_an_untrusted_peer_cannot_name_another_address():
    assert client_address("203.0.113.9", "198.51.100.1", PROXIES) == "203.0.113.9"


def test_through_a_trusted_proxy_the_client_is_the_hop_before_it():
    assert client_address("10.0.0.5", "198.51.100.1", PROXIES) == "198.51.100.1"


def test_an_address_the_client_wrote_itself_is_passed_over():
    # The client sent "X-Forwarded-For: 1.2.3.4"; our proxies appended what they saw.
    header = "1.2.3.4, 198.51.100.1, 192.168.8.20"
    assert client_address("10.0.0.5", header, PROXIES) == "198.51.100.1"


def test_no_peer_and_junk_headers_do_not_fail():
    assert client_address(None, "x", PROXIES) == ""
    assert client_address("10.0.0.5", " , ", PROXIES) == "10.0.0.5"
    assert client_address("10.0.0.5", "not-an-ip", PROXIES) == "10.0.0.5"
