"""An ML2 mechanism driver for the stacksweep test bed: it binds every port.

Without agents no mechanism driver can bind a port, so Nova servers fail with
PortBindingFailed. This driver binds each port to its first segment with
vif_type "ovs" and marks it ACTIVE, which is all Nova's fake compute driver needs.

It also registers an agentless trunk driver, so the bed's Neutron can load the
`trunk` service plugin (the plugin refuses to start without a loaded driver) and
answers the trunk API with its own rules (TrunkInUse, PortInUseAsTrunkParent, ...).
Like ML2/OVS's driver it cannot trunk or untrunk a bound port: a trunk whose parent
is bound to a server answers TrunkInUse to its delete.
"""

from neutron_lib import constants
from neutron_lib.plugins.ml2 import api
from oslo_config import cfg

from neutron.services.trunk.drivers import base as trunk_base

NAME = "bindall"


class BindAllTrunkDriver(trunk_base.DriverBase):
    """Trunks on ports this driver binds (vif_type "ovs"), VLAN sub-ports, agentless."""

    @property
    def is_loaded(self):
        try:
            return NAME in cfg.CONF.ml2.mechanism_drivers
        except cfg.NoSuchOptError:
            return False


class BindAllMechanismDriver(api.MechanismDriver):
    """Binds every port on any segment; does nothing else."""

    def initialize(self):
        # Subscribes itself to the trunk plugin's AFTER_INIT (the ML2 core plugin, and
        # so this driver, loads before the service plugins). Kept alive here.
        self.trunk_driver = BindAllTrunkDriver(
            NAME, ["ovs"], ["vlan"], agent_type=None, can_trunk_bound_port=False
        )

    @property
    def connectivity(self):
        return constants.CONNECTIVITY_L2

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                "ovs",
                {"port_filter": True, "ovs_hybrid_plug": False},
                status=constants.PORT_STATUS_ACTIVE,
            )
            return
