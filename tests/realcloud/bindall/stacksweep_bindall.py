"""An ML2 mechanism driver for the stacksweep test bed: it binds every port.

Without agents no mechanism driver can bind a port, so Nova servers fail with
PortBindingFailed. This driver binds each port to its first segment with
vif_type "ovs" and marks it ACTIVE, which is all Nova's fake compute driver needs.
"""

from neutron_lib import constants
from neutron_lib.plugins.ml2 import api


class BindAllMechanismDriver(api.MechanismDriver):
    """Binds every port on any segment; does nothing else."""

    def initialize(self):
        pass

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
