# Stacking where OpenStack's git hosts cannot be reached: DevStack and every repository it clones
# come from a local folder of bare mirrors laid out as openstack/NAME.git (devstack, keystone,
# swift, requirements; ../shared/mirrors/openstack-git.tar holds such a folder), shown on the
# machine at /srv/mirrors. The Vagrantfile shows DEVSTACK_MIRRORS=FOLDER there on the machines
# that stack. Copy this file to .salt/pillar/site.sls: the all-in-one node's, or the master's for
# a whole cloud (README.md, "Vagrant"). The machine tier stacks with exactly this file.
devstack:
  stack: true
  repo: file:///srv/mirrors/openstack/devstack.git
  ref: master
  localrc:
    GIT_BASE: file:///srv/mirrors      # DevStack clones $GIT_BASE/openstack/NAME.git
    LIBS_FROM_GIT: ""                  # the libraries from the package registry's wheels
    PIP_UPGRADE: false
    INSTALL_TEMPEST: false
    SWIFT_LOOPBACK_DISK_SIZE: 2G       # small and sparse
