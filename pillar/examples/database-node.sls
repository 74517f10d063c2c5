# Example: a dedicated database node for a multi-node cloud. DevStack nodes at 192.0.2.10-12
# reach it at 192.0.2.20; root logs in with a password; an application database with its user.
# Put the passwords in a secrets pillar (mode 0600), not in git: they are inline here only to
# show where they go.
database:
  server:
    bind_address: 192.0.2.20
    port: 3306
    character_set: utf8mb4
    collation: utf8mb4_general_ci
    max_connections: 2048
    options:
      innodb_buffer_pool_size: 1G
      skip_name_resolve: true       # match hosts by address only (users below use addresses)
      default_storage_engine: InnoDB
      sql_mode: TRADITIONAL
  root:
    auth: password
    password: RootPassw0rdExample
  databases:
    reports:
      character_set: utf8mb4
      collation: utf8mb4_unicode_ci
  users:
    reporter:
      password: ReportPassw0rdExample
      hosts: [192.0.2.30]
      grants:
        reports: [SELECT, INSERT, UPDATE, DELETE]
  devstack:
    user: devstack
    password: DbPassw0rdExample
    host: 192.0.2.20
    nodes: [192.0.2.10, 192.0.2.11, 192.0.2.12]
