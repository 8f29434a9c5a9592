import { inject } from "tsyringe";
import { MachbusError } from "../src/errors.js";
import { pciDriver } from "../src/machine/drivers.js";
import { bootindexProperty, prop, types } from "../src/machine/properties.js";
import { NicMac, formatMac, nicProperties, type MacAddresses } from "../src/machine/mac-addresses.js";
import { DEVICE_PROPS, MAC_ADDRESSES, PLUG_BUS } from "../src/machine/tokens.js";
import type { PciBus } from "../src/pci/bus.js";
import type { DeviceProps } from "../src/pci/device.js";
import { describeState, u8Array } from "../src/state/description.js";
import { VECTORS_UNSPECIFIED, VIRTIO_F_VERSION_1, VIRTIO_ID_NET, VIRTQUEUE_MAX_SIZE, bit, hasBit } from "../src/virtio/constants.js";
import { ioeventfdProperty, readOnlyProperty, virtioDeviceProperties, virtioPciProperties, virtioQtree } from "../src/virtio/properties.js";
import { VirtioPciDevice } from "../src/virtio/transport.js";

/** VIRTIO_NET_F_* feature bits. */
const F = {
  CSUM: 0,
  GUEST_CSUM: 1,
  CTRL_GUEST_OFFLOADS: 2,
  MTU: 3,
  MAC: 5,
  GSO: 6,
  GUEST_TSO4: 7,
  GUEST_TSO6: 8,
  GUEST_ECN: 9,
  GUEST_UFO: 10,
  HOST_TSO4: 11,
  HOST_TSO6: 12,
  HOST_ECN: 13,
  HOST_UFO: 14,
  MRG_RXBUF: 15,
  STATUS: 16,
  CTRL_VQ: 17,
  CTRL_RX: 18,
  CTRL_VLAN: 19,
  CTRL_RX_EXTRA: 20,
  GUEST_ANNOUNCE: 21,
  MQ: 22,
  CTRL_MAC_ADDR: 23,
  HASH_REPORT: 57,
  RSS: 60,
  RSC_EXT: 61,
  STANDBY: 62,
  SPEED_DUPLEX: 63,
} as const;

/** Offloads a backend without a virtio-net header cannot do: QEMU withdraws them when there is no such peer. */
const NEEDS_VNET_HDR = [
  F.CSUM,
  F.HOST_TSO4,
  F.HOST_TSO6,
  F.HOST_ECN,
  F.GUEST_CSUM,
  F.GUEST_TSO4,
  F.GUEST_TSO6,
  F.GUEST_ECN,
  F.HASH_REPORT,
  F.GUEST_UFO,
  F.HOST_UFO,
];

/** struct virtio_net_config; its guest-visible size ends with the last field a host feature asks for. */
const CFG_MAC = 0;
const CFG_STATUS = 6;
const CFG_MAX_VQ_PAIRS = 8;
const CFG_MTU = 10;
const CFG_SPEED = 12;
const CFG_DUPLEX = 16;
const CFG_RSS_MAX_KEY_SIZE = 17;
const CFG_RSS_MAX_TABLE_LEN = 18;
const CFG_SUPPORTED_HASH_TYPES = 20;
const CONFIG_SIZE_BY_FEATURE: ReadonlyArray<readonly [bigint, number]> = [
  [bit(F.MAC), 6],
  [bit(F.STATUS), 8],
  [bit(F.MQ), 10],
  [bit(F.MTU), 12],
  [bit(F.SPEED_DUPLEX), 17],
  [bit(F.RSS) | bit(F.HASH_REPORT), 24],
];

const VIRTIO_NET_S_LINK_UP = 1;
const RSS_MAX_KEY_SIZE = 40;
const RSS_MAX_TABLE_LEN = 128;
const RSS_SUPPORTED_HASHES = 0x1ff;
const DUPLEX_HALF = 0;
const DUPLEX_FULL = 1;
const DUPLEX_UNKNOWN = 0xff;
const RX_QUEUE_MIN_SIZE = 256;
const TX_QUEUE_MIN_SIZE = 256;
/** Without a vhost-user or vDPA peer, the transmit queue stays at its default size. */
const TX_QUEUE_MAX_WITHOUT_VHOST = 256;
const CTRL_QUEUE_SIZE = 64;

const feature = (n: number, description: string) => prop(types.bool, true, `offers VIRTIO_NET_F_${description} (feature bit ${n})`);
const offFeature = (n: number, description: string) => prop(types.bool, false, `offers VIRTIO_NET_F_${description} (feature bit ${n})`);
const NO_PEER = "; withdrawn here, as QEMU does without a netdev that has a virtio-net header";

const properties = {
  ...virtioPciProperties,
  ...virtioDeviceProperties,
  "virtio-backend": readOnlyProperty("child<virtio-net-device>", "the virtio-net-device inside the proxy"),
  ioeventfd: ioeventfdProperty,
  vectors: prop(types.uint32, VECTORS_UNSPECIFIED, "MSI-X vectors; default 2 per queue pair + config + control queue (4); 0: no MSI-X"),
  ...nicProperties,
  bootindex: bootindexProperty,
  csum: feature(F.CSUM, "CSUM" + NO_PEER),
  guest_csum: feature(F.GUEST_CSUM, "GUEST_CSUM" + NO_PEER),
  gso: feature(F.GSO, "GSO (legacy drivers only)"),
  guest_tso4: feature(F.GUEST_TSO4, "GUEST_TSO4" + NO_PEER),
  guest_tso6: feature(F.GUEST_TSO6, "GUEST_TSO6" + NO_PEER),
  guest_ecn: feature(F.GUEST_ECN, "GUEST_ECN" + NO_PEER),
  guest_ufo: feature(F.GUEST_UFO, "GUEST_UFO" + NO_PEER),
  guest_announce: feature(F.GUEST_ANNOUNCE, "GUEST_ANNOUNCE"),
  host_tso4: feature(F.HOST_TSO4, "HOST_TSO4" + NO_PEER),
  host_tso6: feature(F.HOST_TSO6, "HOST_TSO6" + NO_PEER),
  host_ecn: feature(F.HOST_ECN, "HOST_ECN" + NO_PEER),
  host_ufo: feature(F.HOST_UFO, "HOST_UFO" + NO_PEER),
  mrg_rxbuf: feature(F.MRG_RXBUF, "MRG_RXBUF"),
  status: feature(F.STATUS, "STATUS (and the config status field)"),
  ctrl_vq: feature(F.CTRL_VQ, "CTRL_VQ"),
  ctrl_rx: feature(F.CTRL_RX, "CTRL_RX"),
  ctrl_vlan: feature(F.CTRL_VLAN, "CTRL_VLAN"),
  ctrl_rx_extra: feature(F.CTRL_RX_EXTRA, "CTRL_RX_EXTRA"),
  ctrl_mac_addr: feature(F.CTRL_MAC_ADDR, "CTRL_MAC_ADDR"),
  ctrl_guest_offloads: feature(F.CTRL_GUEST_OFFLOADS, "CTRL_GUEST_OFFLOADS"),
  mq: offFeature(F.MQ, "MQ (and the config max_virtqueue_pairs field)"),
  rss: offFeature(F.RSS, "RSS (and the config RSS fields)"),
  hash: offFeature(F.HASH_REPORT, "HASH_REPORT" + NO_PEER + "; the config RSS fields stay"),
  guest_rsc_ext: offFeature(F.RSC_EXT, "RSC_EXT"),
  rsc_interval: prop(types.uint32, 300000, "receive segment coalescing timer in ns (no effect on the guest view)"),
  "x-txtimer": prop(types.uint32, 150000, "transmit timer in ns (no effect on the guest view)"),
  "x-txburst": prop(types.int32, 256, "packets sent per transmit burst (no effect on the guest view)"),
  tx: prop(types.str, "", "transmit mitigation, timer or bh (no effect on the guest view)"),
  rx_queue_size: prop(types.uint16, 256, "receive queue size: a power of two from 256 to 1024"),
  tx_queue_size: prop(types.uint16, 256, "transmit queue size: a power of two from 256 to 1024 (256 without a vhost-user peer)"),
  host_mtu: prop(types.uint16, 0, "MTU advertised to the guest; nonzero offers VIRTIO_NET_F_MTU and the config mtu field"),
  "x-mtu-bypass-backend": prop(types.bool, true, "lets the guest bypass the backend MTU (no effect on the guest view)"),
  speed: prop(types.int32, -1, "link speed in Mbit/s; 0 or more offers VIRTIO_NET_F_SPEED_DUPLEX and the config speed field"),
  duplex: prop(types.str, "", "half or full; offers VIRTIO_NET_F_SPEED_DUPLEX and the config duplex field"),
  failover: prop(types.bool, false, "offers VIRTIO_NET_F_STANDBY (feature bit 62)"),
};

interface GuestMac {
  readonly mac: Uint8Array;
}

const NET_STATE = describeState<GuestMac>({ name: "virtio-net", version: 1, fields: [u8Array("mac")] });

/**
 * virtio network device on PCI (QEMU's "virtio-net-pci", 1af4:1000, Ethernet controller): three
 * queues (receive, transmit, control), MAC and link status in the device configuration.
 * Registers only: no frames are sent or received.
 */
@pciDriver({
  name: "virtio-net-pci",
  description: "virtio network device on PCI",
  category: "network",
  properties,
  romfile: "efi-virtio.rom",
  parents: ["virtio-net-pci-base", "virtio-pci", "virtio-net-device", "virtio-device"],
  qtree: virtioQtree(["ioeventfd", "vectors"], "virtio-net-device", [
    "csum",
    "guest_csum",
    "gso",
    "guest_tso4",
    "guest_tso6",
    "guest_ecn",
    "guest_ufo",
    "guest_announce",
    "host_tso4",
    "host_tso6",
    "host_ecn",
    "host_ufo",
    "mrg_rxbuf",
    "status",
    "ctrl_vq",
    "ctrl_rx",
    "ctrl_vlan",
    "ctrl_rx_extra",
    "ctrl_mac_addr",
    "ctrl_guest_offloads",
    "mq",
    "rss",
    "hash",
    "guest_rsc_ext",
    "rsc_interval",
    "mac",
    "netdev",
    "x-txtimer",
    "x-txburst",
    "tx",
    "rx_queue_size",
    "tx_queue_size",
    "host_mtu",
    "x-mtu-bypass-backend",
    "speed",
    "duplex",
    "failover",
  ]),
})
export class VirtioNetPci extends VirtioPciDevice {
  private readonly configuredMac: NicMac;
  /** The MAC the guest sees: a legacy driver may write another one. */
  private readonly guest: GuestMac = { mac: new Uint8Array(6) };
  private readonly speed: number;
  private readonly duplex: number;
  private readonly mtu: number;

  constructor(
    @inject(PLUG_BUS) bus: PciBus,
    @inject(DEVICE_PROPS) props: DeviceProps<typeof properties>,
    @inject(MAC_ADDRESSES) macs: MacAddresses,
  ) {
    const own = netFeatures(props);
    super(props, {
      bus,
      name: "virtio-net",
      virtioId: VIRTIO_ID_NET,
      transitionalDeviceId: 0x1000,
      classCode: 0x0200,
      vectors: props.vectors === VECTORS_UNSPECIFIED ? 2 * 1 + 1 + 1 : props.vectors,
      queueSizes: queueSizes(props),
      configSize: configSize(own | bit(F.MAC)),
      features: (offered) => {
        let f = offered | own | bit(F.MAC);
        for (const n of NEEDS_VNET_HDR) f &= ~bit(n);
        return f;
      },
      legacyOnlyFeatures: bit(F.GSO),
    });
    this.speed = props.speed;
    this.duplex = props.duplex === "half" ? DUPLEX_HALF : props.duplex === "full" ? DUPLEX_FULL : DUPLEX_UNKNOWN;
    this.mtu = props.host_mtu;
    this.configuredMac = new NicMac(macs, props);
    this.function.keepState(NET_STATE, this.guest);
  }

  /** The MAC address the guest sees now. */
  get macAddress(): string {
    return formatMac([...this.guest.mac]);
  }

  /** The default MAC is picked once the NIC is in the machine (QEMU: at realize). */
  override plugged(): void {
    this.guest.mac.set(this.configuredMac.claim());
  }

  override unplugging(): void {
    this.configuredMac.release();
  }

  protected override fillConfig(config: Uint8Array): void {
    const all = new Uint8Array(24);
    const v = new DataView(all.buffer);
    all.set(this.guest.mac, CFG_MAC);
    v.setUint16(CFG_STATUS, VIRTIO_NET_S_LINK_UP, true);
    v.setUint16(CFG_MAX_VQ_PAIRS, 1, true);
    v.setUint16(CFG_MTU, this.mtu, true);
    v.setInt32(CFG_SPEED, this.speed, true);
    all[CFG_DUPLEX] = this.duplex;
    all[CFG_RSS_MAX_KEY_SIZE] = RSS_MAX_KEY_SIZE;
    v.setUint16(CFG_RSS_MAX_TABLE_LEN, hasBit(this.hostFeatures, F.RSS) ? RSS_MAX_TABLE_LEN : 1, true);
    v.setUint32(CFG_SUPPORTED_HASH_TYPES, RSS_SUPPORTED_HASHES, true);
    config.set(all.subarray(0, config.length));
  }

  /** Legacy drivers that negotiated neither VERSION_1 nor CTRL_MAC_ADDR set the MAC by writing it. */
  protected override configWritten(config: Uint8Array): void {
    if (this.guestHas(F.CTRL_MAC_ADDR) || this.guestHas(VIRTIO_F_VERSION_1)) return;
    this.guest.mac.set(config.subarray(CFG_MAC, CFG_MAC + 6));
  }

  protected override resetDevice(): void {
    this.guest.mac.set(this.configuredMac.bytes);
  }

  /** Linux 2.6.25 claimed offloads it could not do: such drivers get the MAC feature only. */
  protected override badFeatures(): bigint {
    return bit(F.MAC) | bit(F.CSUM) | bit(F.HOST_TSO4) | bit(F.HOST_TSO6) | bit(F.HOST_ECN);
  }
}

/** The feature bits the properties ask for (n->host_features after realize). */
function netFeatures(props: DeviceProps<typeof properties>): bigint {
  const flags: [boolean, number][] = [
    [props.csum, F.CSUM],
    [props.guest_csum, F.GUEST_CSUM],
    [props.gso, F.GSO],
    [props.guest_tso4, F.GUEST_TSO4],
    [props.guest_tso6, F.GUEST_TSO6],
    [props.guest_ecn, F.GUEST_ECN],
    [props.guest_ufo, F.GUEST_UFO],
    [props.guest_announce, F.GUEST_ANNOUNCE],
    [props.host_tso4, F.HOST_TSO4],
    [props.host_tso6, F.HOST_TSO6],
    [props.host_ecn, F.HOST_ECN],
    [props.host_ufo, F.HOST_UFO],
    [props.mrg_rxbuf, F.MRG_RXBUF],
    [props.status, F.STATUS],
    [props.ctrl_vq, F.CTRL_VQ],
    [props.ctrl_rx, F.CTRL_RX],
    [props.ctrl_vlan, F.CTRL_VLAN],
    [props.ctrl_rx_extra, F.CTRL_RX_EXTRA],
    [props.ctrl_mac_addr, F.CTRL_MAC_ADDR],
    [props.ctrl_guest_offloads, F.CTRL_GUEST_OFFLOADS],
    [props.mq, F.MQ],
    [props.rss, F.RSS],
    [props.hash, F.HASH_REPORT],
    [props.guest_rsc_ext, F.RSC_EXT],
    [props.host_mtu !== 0, F.MTU],
    [props.failover, F.STANDBY],
  ];
  let f = 0n;
  for (const [on, n] of flags) if (on) f |= bit(n);
  if (props.duplex) {
    if (props.duplex !== "half" && props.duplex !== "full")
      throw new MachbusError("bad-property-value", "'duplex' must be 'half' or 'full'");
    f |= bit(F.SPEED_DUPLEX);
  }
  if (props.speed < -1) throw new MachbusError("bad-property-value", "'speed' must be between 0 and INT_MAX");
  if (props.speed >= 0) f |= bit(F.SPEED_DUPLEX);
  return f;
}

function configSize(features: bigint): number {
  let size = 6;
  for (const [flags, end] of CONFIG_SIZE_BY_FEATURE) if (features & flags) size = Math.max(size, end);
  return size;
}

/** One queue pair (no multiqueue backend), then the control queue, which exists whatever ctrl_vq says. */
function queueSizes(props: DeviceProps<typeof properties>): number[] {
  const { rx_queue_size: rx, tx_queue_size: tx } = props;
  const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
  if (rx < RX_QUEUE_MIN_SIZE || rx > VIRTQUEUE_MAX_SIZE || !pow2(rx)) {
    throw new MachbusError(
      "bad-property-value",
      `Invalid rx_queue_size (= ${rx}), must be a power of 2 between ${RX_QUEUE_MIN_SIZE} and ${VIRTQUEUE_MAX_SIZE}.`,
    );
  }
  if (tx < TX_QUEUE_MIN_SIZE || tx > VIRTQUEUE_MAX_SIZE || !pow2(tx)) {
    throw new MachbusError(
      "bad-property-value",
      `Invalid tx_queue_size (= ${tx}), must be a power of 2 between ${TX_QUEUE_MIN_SIZE} and ${VIRTQUEUE_MAX_SIZE}`,
    );
  }
  return [rx, Math.min(tx, TX_QUEUE_MAX_WITHOUT_VHOST), CTRL_QUEUE_SIZE];
}

/** QEMU's qemu_macaddr_default_if_unset: the first free 52:54:00:12:34:xx from :56 on. */
