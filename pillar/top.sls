# The default pillar: a small Keystone + MySQL + Swift DevStack node (DevStack's documented
# small Swift node) and its database (MariaDB, the database role). secrets.sls is generated per
# host by bin/configure (0600, not in git).
base:
  '*':
    - node
    - devstack
    - database
    - broker
    - monitoring
    - secrets
    - site              # .salt/pillar/site.sls: this host's own settings (bin/configure)
