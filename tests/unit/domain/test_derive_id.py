import uuid

from pie.domain.model import PIE_NAMESPACE, EntityKind, derive_id


def test_derived_ids_are_the_name_based_uuids_of_the_natural_key() -> None:
    tenant = uuid.UUID("0b9f6c1e-3a57-4e8e-9d2c-6f1a2b3c4d5e")
    for key in ("act-1", "Ünïcode id", "a|b", ""):
        made = derive_id(tenant, EntityKind.ACTIVITY, "file", key)
        expected = uuid.uuid5(PIE_NAMESPACE, f"{tenant}|activity|file|{key}")
        assert made == expected
        assert str(made) == str(expected) and hash(made) == hash(expected)
        assert made.version == 5 and made.variant == uuid.RFC_4122
    assert derive_id(tenant, "deal", 3) != derive_id(tenant, "deal", 4)
