"""A Uniform VM scale set whose instances run an option's proxy, in an LB backend pool (`lb_pls`).

The proxy's configuration reaches instances two ways (docs/platform-rules.md#run-command): the model's
customData (cloud-init, for new and reimaged instances) and run commands (live instances; `cloud.runcommand`).
An option gives the cloud-init text; this module knows nothing about what runs on the instances.
"""

from __future__ import annotations

import base64
from typing import Any

from transit_operator.api.errors import InvalidSpec
from transit_operator.api.v1alpha1 import ScaleSetSpec, ServerlessTransitSpec
from transit_operator.plan import ids, naming
from transit_operator.plan.model import AzureResource
from transit_operator.plan.ownership import Owner, owner_tags

__all__ = ["MAX_CUSTOM_DATA", "build_vmss", "scale_set_id"]

# customData is limited to 65535 bytes once decoded (VirtualMachineScaleSetOSProfile.customData).
MAX_CUSTOM_DATA = 65535


def scale_set_id(spec: ServerlessTransitSpec, owner: Owner) -> str:
    return ids.resource_id(
        spec.azure.subscription_id,
        spec.azure.resource_group,
        ids.VIRTUAL_MACHINE_SCALE_SETS,
        naming.build_vmss_name(owner.namespace, owner.name),
    )


def build_vmss(
    spec: ServerlessTransitSpec,
    scale_set: ScaleSetSpec,
    *,
    owner: Owner,
    nsg_id: str,
    backend_pool_id: str,
    cloud_init: str | None,
    field: str,
) -> AzureResource:
    """Uniform VMSS of `scale_set.instance_count` instances in the LB pool `backend_pool_id`, NICs under
    `nsg_id`. `cloud_init` None: no customData yet (the plan says why in `waiting`); too long for
    customData: `InvalidSpec` on `field` (the option's block)."""
    os_profile: dict[str, Any] = {
        "computerNamePrefix": naming.build_computer_name_prefix(owner.namespace, owner.name),
        "adminUsername": scale_set.admin_username,
        "linuxConfiguration": {
            "disablePasswordAuthentication": True,
            "ssh": {
                "publicKeys": [
                    {
                        "path": f"/home/{scale_set.admin_username}/.ssh/authorized_keys",
                        "keyData": scale_set.ssh_public_key,
                    }
                ]
            },
        },
    }
    if cloud_init is not None:
        custom_data = base64.b64encode(cloud_init.encode("utf-8")).decode("ascii")
        if len(cloud_init.encode("utf-8")) > MAX_CUSTOM_DATA:
            raise InvalidSpec(
                f"cloud-init is {len(cloud_init)} bytes; VMSS customData takes at most {MAX_CUSTOM_DATA}"
                " (fewer ports or zones)",
                field=field,
            )
        os_profile["customData"] = custom_data
    body = {
        "location": spec.azure.location,
        "tags": owner_tags(owner),
        "zones": list(scale_set.zones),
        "sku": {"name": scale_set.vm_size, "tier": "Standard", "capacity": scale_set.instance_count},
        "properties": {
            "orchestrationMode": "Uniform",
            # Manual: the operator pushes the proxy's config to live instances with run commands; a model
            # change (new customData) must not reimage or restart serving instances behind our back.
            # customData serves new/reimaged instances only.
            "upgradePolicy": {"mode": "Manual"},
            # No extra instances that briefly join the LB pool and miss the run-command fan-out.
            "overprovision": False,
            "virtualMachineProfile": {
                "osProfile": os_profile,
                "storageProfile": {
                    "imageReference": {
                        "publisher": scale_set.image.publisher,
                        "offer": scale_set.image.offer,
                        "sku": scale_set.image.sku,
                        "version": scale_set.image.version,
                    },
                    "osDisk": {
                        "createOption": "FromImage",
                        "caching": "ReadWrite",
                        # Standard SSD works with every VM size (Premium needs an `s` size).
                        "managedDisk": {"storageAccountType": "StandardSSD_LRS"},
                    },
                },
                "networkProfile": {
                    "networkInterfaceConfigurations": [
                        {
                            "name": naming.NIC_CONFIG_NAME,
                            "properties": {
                                "primary": True,
                                "networkSecurityGroup": {"id": nsg_id},
                                "ipConfigurations": [
                                    {
                                        "name": naming.IP_CONFIG_NAME,
                                        "properties": {
                                            "primary": True,
                                            "privateIPAddressVersion": "IPv4",
                                            "subnet": {"id": spec.network.frontend_subnet_id},
                                            "loadBalancerBackendAddressPools": [{"id": backend_pool_id}],
                                        },
                                    }
                                ],
                            },
                        }
                    ]
                },
            },
        },
    }
    return AzureResource(
        type=ids.VIRTUAL_MACHINE_SCALE_SETS,
        id=scale_set_id(spec, owner),
        apiVersion=ids.api_version_for(ids.VIRTUAL_MACHINE_SCALE_SETS),
        body=body,
        dependsOn=[nsg_id, ids.parse_resource_id(backend_pool_id).top_level_id],
    )
