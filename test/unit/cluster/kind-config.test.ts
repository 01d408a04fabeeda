// SPDX-License-Identifier: Apache-2.0
// The kind config dpbench hands to `kind create cluster --config -`: exact objects per datapath, the exact YAML,
// and the shapes kind cannot build, each refused with the shape key and what was expected.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  kindClusterName, kindConfig, kindShapeIssues, kubeProxyModeFor, renderKindConfig, runsAgentDaemonSet,
} from '../../../src/cluster/kind/config.ts';
import { ConfigError } from '../../../src/errors.ts';
import { loadClusterShape } from '../../../src/runner/scenario/load.ts';

const network = { nodeSubnet: '172.18.0.0/16', podCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/12' };
const shape = { name: 'kind-2node', nodes: 2, network };
const kubeletPatch = 'kind: KubeletConfiguration\nallowedUnsafeSysctls:\n  - net.ipv4.tcp_tw_reuse\n  - net.ipv4.tcp_max_tw_buckets\n';

describe('kind config', () => {
  it('iptables: kube-proxy in iptables mode, one control-plane + one worker, kind default subnets', () => {
    expect(kindConfig(shape, 'iptables', 'dpb-abc123-iptables')).toEqual({
      kind: 'Cluster',
      apiVersion: 'kind.x-k8s.io/v1alpha4',
      name: 'dpb-abc123-iptables',
      networking: { ipFamily: 'ipv4', podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/12', kubeProxyMode: 'iptables' },
      kubeadmConfigPatches: [kubeletPatch],
      nodes: [{ role: 'control-plane' }, { role: 'worker' }],
    });
  });

  it('nftables: kube-proxy in nftables mode', () => {
    expect(kindConfig(shape, 'nftables', 'dpb-abc123-nftables').networking.kubeProxyMode).toBe('nftables');
  });

  it('ebpf and xdp: no kube-proxy, the dpbench agent DaemonSet replaces it', () => {
    for (const dp of ['ebpf', 'xdp'] as const) {
      expect(kindConfig(shape, dp, `dpb-abc123-${dp}`).networking.kubeProxyMode).toBe('none');
      expect(runsAgentDaemonSet(dp)).toBe(true);
    }
    expect(kubeProxyModeFor('none')).toBe('none');
    expect(runsAgentDaemonSet('iptables')).toBe(false);
    expect(runsAgentDaemonSet('none')).toBe(false);
  });

  it('renders this exact YAML, which parses back to the same object', () => {
    const config = kindConfig({ ...shape, nodes: 3, network: { ...network, podCIDR: '10.200.0.0/16', serviceCIDR: '10.100.0.0/16' } }, 'ebpf', 'dpb-abc123-ebpf');
    const text = renderKindConfig(config);
    expect(text).toBe(
      [
        'kind: Cluster',
        'apiVersion: kind.x-k8s.io/v1alpha4',
        'name: dpb-abc123-ebpf',
        'networking:',
        '  ipFamily: ipv4',
        '  podSubnet: 10.200.0.0/16',
        '  serviceSubnet: 10.100.0.0/16',
        '  kubeProxyMode: none',
        'kubeadmConfigPatches:',
        '  - |',
        '    kind: KubeletConfiguration',
        '    allowedUnsafeSysctls:',
        '      - net.ipv4.tcp_tw_reuse',
        '      - net.ipv4.tcp_max_tw_buckets',
        'nodes:',
        '  - role: control-plane',
        '  - role: worker',
        '  - role: worker',
        '',
      ].join('\n'),
    );
    expect(parse(text)).toEqual(config);
  });

  it('a one-node shape is a lone control-plane', () => {
    expect(kindConfig({ ...shape, nodes: 1 }, 'iptables', 'dpb-abc123-iptables').nodes).toEqual([{ role: 'control-plane' }]);
  });

  it('clusters/kind-2node.yaml is a kind shape kind can build', () => {
    const s = loadClusterShape('kind-2node', 'test');
    expect(s.provider).toBe('kind');
    const name = kindClusterName('dpb-abc123', 'iptables');
    expect(name).toBe('dpb-abc123-iptables');
    expect(kindShapeIssues(s, name)).toEqual([]);
    expect(kindConfig(s, 'iptables', name).nodes).toHaveLength(2);
  });
});

describe('shapes kind cannot build', () => {
  const issues = (over: Partial<typeof network>, nodes = 2, name = 'dpb-abc123-iptables'): string[] =>
    kindShapeIssues({ nodes, network: { ...network, ...over } }, name);

  it('a node subnet of its own: kind takes the container engine network as it is', () => {
    expect(issues({ nodeSubnet: '192.168.50.0/24' })).toEqual([expect.stringMatching(/^network\.nodeSubnet: kind places nodes on the container engine's "kind" network/)]);
  });

  it('a pod CIDR without a /24 per node', () => {
    expect(issues({ podCIDR: '10.244.0.0/24' })).toEqual([expect.stringMatching(/^network\.podCIDR: 10\.244\.0\.0\/24 cannot give each of 2 nodes a \/24.*expected a \/23 or larger/)]);
    expect(issues({ podCIDR: '10.244.0.0/22' }, 4)).toEqual([]);
    expect(issues({ podCIDR: '10.244.0.0/22' }, 5)).toEqual([expect.stringMatching(/expected a \/21 or larger/)]);
  });

  it('a service CIDR larger than kube-apiserver accepts', () => {
    expect(issues({ serviceCIDR: '10.0.0.0/8', podCIDR: '192.168.0.0/16' })).toEqual([expect.stringMatching(/^network\.serviceCIDR: 10\.0\.0\.0\/8 is larger than kube-apiserver accepts; expected a \/12 or smaller/)]);
  });

  it('overlapping pod, service and node ranges', () => {
    expect(issues({ serviceCIDR: '10.244.128.0/20' })).toEqual(['network.serviceCIDR: 10.244.128.0/20 overlaps network.podCIDR 10.244.0.0/16']);
    expect(issues({ podCIDR: '172.18.0.0/16' })).toEqual(['network.podCIDR: 172.18.0.0/16 overlaps the node network 172.18.0.0/16']);
  });

  it('names kind refuses or that make node hostnames too long', () => {
    expect(issues({}, 2, 'Dpb_ABC')).toEqual([expect.stringMatching(/^name: "Dpb_ABC" is not a valid kind cluster name/)]);
    expect(issues({}, 2, 'x'.repeat(50))).toEqual([expect.stringMatching(/is too long; node hostnames such as x+-control-plane must fit in 63 characters/)]);
  });

  it('kindConfig refuses such a shape with a ConfigError (exit 104) listing every issue', () => {
    const bad = { name: 'odd', nodes: 2, network: { nodeSubnet: '10.0.0.0/24', podCIDR: '10.244.0.0/24', serviceCIDR: '10.96.0.0/12' } };
    let caught: unknown;
    try {
      kindConfig(bad, 'iptables', 'dpb-abc123-iptables');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const err = caught as ConfigError;
    expect(err.exitCode).toBe(104);
    expect(err.message).toMatch(/^cluster shape "odd" cannot be built by kind/);
    expect(err.issues).toHaveLength(2);
  });
});
