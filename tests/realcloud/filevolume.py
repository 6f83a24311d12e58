"""A Cinder volume driver for the test bed whose volumes are small sparse files.

cinder-volume loads it (`volume_driver = filevolume.FileVolumeDriver`, this directory on
its PYTHONPATH). It is Cinder's own `FakeLoggingVolumeDriver` (no storage, every call
logged), except that each volume is a sparse file of 1 MiB under
`$state_path/filevolumes/<volume id>` and `initialize_connection` answers os-brick's
`local` connector (`device_path` = that file). cinder-backup (posix driver) then reads
the file like a device, so backups and incremental backups really run; the fake
driver's `iscsi` answer sent every backup to `error`. The file is 1 MiB whatever the
volume's size: the backup reads until end of file, so a backup takes well under a
second. Nova's fake compute driver never opens the device.
"""

import os
import shutil

from oslo_config import cfg

from cinder.tests.fake_driver import FakeLoggingVolumeDriver

CONF = cfg.CONF
FILE_BYTES = 1024 * 1024


class FileVolumeDriver(FakeLoggingVolumeDriver):
    """FakeLoggingVolumeDriver with a sparse file per volume, attached as `local`."""

    def _dir(self):
        path = os.path.join(CONF.state_path, "filevolumes")
        os.makedirs(path, exist_ok=True)
        return path

    def _path(self, volume):
        return os.path.join(self._dir(), volume["id"])

    def _touch(self, volume):
        with open(self._path(volume), "ab") as f:
            f.truncate(FILE_BYTES)

    def create_volume(self, volume):
        update = super().create_volume(volume)
        self._touch(volume)
        return update

    def create_cloned_volume(self, volume, src_vref):
        src = self._path(src_vref)
        if os.path.exists(src):
            shutil.copyfile(src, self._path(volume))
        else:
            self._touch(volume)

    def create_volume_from_snapshot(self, volume, snapshot):
        self._touch(volume)

    def delete_volume(self, volume):
        try:
            os.unlink(self._path(volume))
        except FileNotFoundError:
            pass

    def validate_connector(self, connector):
        # The LVM base asks an iSCSI initiator name of the connector; this host has none.
        pass

    def initialize_connection(self, volume, connector):
        answer = super().initialize_connection(volume, connector)
        path = self._path(volume)
        if not os.path.exists(path):
            self._touch(volume)  # a volume created before this driver was loaded
        answer["driver_volume_type"] = "local"
        answer["data"]["device_path"] = path
        return answer
