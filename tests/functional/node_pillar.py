"""The DevStack node pillar the functional tests apply (its passwords are test data)."""

PASSWORD = "Fu11SecretPw"
PILLAR = {
    "devstack": {
        "disable_all_services": True,
        "services": {"keystone": True, "mysql": True, "swift": True},
        "localrc": {
            "ADMIN_PASSWORD": PASSWORD,
            "SERVICE_PASSWORD": {"ref": "ADMIN_PASSWORD"},
            "DATABASE_PASSWORD": {"ref": "ADMIN_PASSWORD"},
            "SWIFT_HASH": "HashSecret99",
            "LOGFILE": {"expand": "${DEST}/logs/stack.sh.log"},
        },
        "config": {"post-config": {"$KEYSTONE_CONF": {"token": {"expiration": 7200}}}},
    }
}
SECRETS = (PASSWORD, "HashSecret99")
