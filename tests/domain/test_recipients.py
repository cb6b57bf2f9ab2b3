"""Recipient lists: validation per platform, deduplication, the 10,000 bound."""

from __future__ import annotations

from typing import Any

import pytest

from clarion.domain.errors import MALFORMED_PARAMETER, MISSING_PARAMETER, DomainError
from clarion.domain.recipients import MAX_RECIPIENTS, parse_recipients
from clarion.domain.vocabulary import Provider

APNS_TOKEN = "a1" * 32


def error_of(data: Any, platform: Provider | None = None) -> DomainError:
    with pytest.raises(DomainError) as caught:
        parse_recipients(data, platform)
    return caught.value


def test_lists_are_deduplicated_in_order() -> None:
    recipients = parse_recipients(
        {"tokens": ["b", "a", "b"], "external_ids": ["u1", "u1", "U1"], "installation_ids": ["i"]}
    )
    assert recipients.tokens == ("b", "a")
    assert recipients.external_ids == ("u1", "U1")  # ids are case-sensitive
    assert recipients.total() == 5


def test_apns_tokens_are_hex_and_case_folded() -> None:
    recipients = parse_recipients({"tokens": [APNS_TOKEN, APNS_TOKEN.upper()]}, Provider.APNS)
    assert recipients.tokens == (APNS_TOKEN,)
    error = error_of({"tokens": [APNS_TOKEN, APNS_TOKEN, APNS_TOKEN, "zz" * 32]}, Provider.APNS)
    assert (error.code, error.field) == (MALFORMED_PARAMETER, "recipients.tokens[3]")
    assert error_of({"tokens": ["abc"]}, Provider.APNS).field == "recipients.tokens[0]"


def test_webpush_tokens_are_https_endpoints() -> None:
    assert parse_recipients({"tokens": ["https://push.example/x"]}, Provider.WEBPUSH).tokens
    assert (
        error_of({"tokens": ["http://push.example/x"]}, Provider.WEBPUSH).field
        == "recipients.tokens[0]"
    )


def test_unknown_platform_tokens_only_need_visible_ascii() -> None:
    assert parse_recipients({"tokens": ["fcm:APA91b-x_y"]}).tokens == ("fcm:APA91b-x_y",)
    assert error_of({"tokens": ["ok", "with space"]}).field == "recipients.tokens[1]"
    assert error_of({"tokens": [""]}).field == "recipients.tokens[0]"
    assert error_of({"tokens": ["x" * 4097]}).field == "recipients.tokens[0]"


def test_blank_ids_are_refused() -> None:
    assert error_of({"installation_ids": ["a", "  "]}).field == "recipients.installation_ids[1]"
    assert error_of({"external_ids": ["x" * 257]}).field == "recipients.external_ids[0]"


def test_emails_are_checked_and_domains_case_folded() -> None:
    recipients = parse_recipients({"emails": ["Ana@Example.COM", "Ana@example.com"]})
    assert recipients.emails == ("Ana@example.com",)
    assert error_of({"emails": ["a@b.co", "not-an-email"]}).field == "recipients.emails[1]"


def test_advertising_ids_are_uuids_and_not_zero() -> None:
    idfa = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
    recipients = parse_recipients({"advertising_ids": [idfa, idfa.lower()]})
    assert recipients.advertising_ids == (idfa.lower(),)
    zero = "00000000-0000-0000-0000-000000000000"
    assert error_of({"advertising_ids": [zero]}).field == "recipients.advertising_ids[0]"
    assert error_of({"advertising_ids": ["nope"]}).field == "recipients.advertising_ids[0]"


def test_at_least_one_recipient() -> None:
    error = error_of({"tokens": []})
    assert (error.code, error.field) == (MISSING_PARAMETER, "recipients")


def test_total_is_bounded_across_lists() -> None:
    half = MAX_RECIPIENTS // 2
    exactly = parse_recipients(
        {
            "tokens": [f"t{i}" for i in range(half)],
            "external_ids": [f"e{i}" for i in range(half)],
        }
    )
    assert exactly.total() == MAX_RECIPIENTS
    error = error_of(
        {
            "tokens": [f"t{i}" for i in range(half)],
            "external_ids": [f"e{i}" for i in range(half + 1)],
        }
    )
    assert (error.code, error.field) == (MALFORMED_PARAMETER, "recipients")
    assert "10000" in error.message


def test_one_list_over_the_bound_is_refused_before_item_checks() -> None:
    error = error_of({"tokens": ["t"] * (MAX_RECIPIENTS + 1)})
    assert error.field == "recipients.tokens"


def test_unknown_recipient_kind_is_refused() -> None:
    assert error_of({"phones": ["+33"]}).field == "recipients.phones"
