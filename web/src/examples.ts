/** Machines to start from, as the command lines a QEMU user would paste. */
export const EXAMPLES: readonly { readonly name: string; readonly commandLine: string }[] = [
  {
    name: "pc with a bridge and NICs",
    commandLine: "-M pc -device e1000,addr=5 -device pci-bridge,id=br0,chassis_nr=1 -device virtio-net-pci,id=net1,bus=br0,addr=3",
  },
  { name: "bare pc (the board's own chips)", commandLine: "-M pc" },
  {
    name: "pc-qemu-0.10: virtio without MSI-X",
    commandLine: "-M pc-qemu-0.10 -device virtio-net-pci -device virtio-blk-pci,drive=d0 -drive if=none,id=d0,file=disk.img",
  },
  { name: "a multifunction slot", commandLine: "-device e1000,addr=06.0,multifunction=on -device rtl8139,addr=06.1" },
  {
    name: "storage, sound, USB, display",
    commandLine:
      "-device lsi53c895a -device intel-hda -device piix3-usb-uhci -device VGA -device virtio-balloon-pci -device virtio-serial-pci",
  },
  {
    name: "two bridges, nested",
    commandLine:
      "-device pci-bridge,id=br0,chassis_nr=1 -device pci-bridge,id=br1,chassis_nr=2,bus=br0,addr=1 -device e1000,bus=br1 -device rtl8139,bus=br0",
  },
];
