// SPDX-License-Identifier: Apache-2.0
// Parsers on text copied verbatim from this machine (kernel 6.18, conntrack-tools 1.4.7), read inside a
// throwaway netns around a TCP_CRR run whose data port was DROPped (net.ipv4.tcp_syn_retries=1).
import { describe, expect, it } from 'vitest';
import { parseConntrackStats, parseNetstat, validityReasons, type CounterSnapshot } from '../../../src/measure/validity.ts';

// /proc/net/netstat before the run
const NETSTAT_BEFORE = `TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts PruneCalled RcvPruned OfoPruned OutOfWindowIcmps LockDroppedIcmps ArpFilter TW TWRecycled TWKilled PAWSActive PAWSEstab BeyondWindow TSEcrRejected PAWSOldAck PAWSTimewait DelayedACKs DelayedACKLocked DelayedACKLost ListenOverflows ListenDrops TCPHPHits TCPPureAcks TCPHPAcks TCPRenoRecovery TCPSackRecovery TCPSACKReneging TCPSACKReorder TCPRenoReorder TCPTSReorder TCPFullUndo TCPPartialUndo TCPDSACKUndo TCPLossUndo TCPLostRetransmit TCPRenoFailures TCPSackFailures TCPLossFailures TCPFastRetrans TCPSlowStartRetrans TCPTimeouts TCPLossProbes TCPLossProbeRecovery TCPRenoRecoveryFail TCPSackRecoveryFail TCPRcvCollapsed TCPBacklogCoalesce TCPDSACKOldSent TCPDSACKOfoSent TCPDSACKRecv TCPDSACKOfoRecv TCPAbortOnData TCPAbortOnClose TCPAbortOnMemory TCPAbortOnTimeout TCPAbortOnLinger TCPAbortFailed TCPMemoryPressures TCPMemoryPressuresChrono TCPSACKDiscard TCPDSACKIgnoredOld TCPDSACKIgnoredNoUndo TCPSpuriousRTOs TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure TCPSackShifted TCPSackMerged TCPSackShiftFallback TCPBacklogDrop PFMemallocDrop TCPMinTTLDrop TCPDeferAcceptDrop IPReversePathFilter TCPTimeWaitOverflow TCPReqQFullDoCookies TCPReqQFullDrop TCPRetransFail TCPRcvCoalesce TCPOFOQueue TCPOFODrop TCPOFOMerge TCPChallengeACK TCPSYNChallenge TCPFastOpenActive TCPFastOpenActiveFail TCPFastOpenPassive TCPFastOpenPassiveFail TCPFastOpenListenOverflow TCPFastOpenCookieReqd TCPFastOpenBlackhole TCPSpuriousRtxHostQueues BusyPollRxPackets TCPAutoCorking TCPFromZeroWindowAdv TCPToZeroWindowAdv TCPWantZeroWindowAdv TCPSynRetrans TCPOrigDataSent TCPHystartTrainDetect TCPHystartTrainCwnd TCPHystartDelayDetect TCPHystartDelayCwnd TCPACKSkippedSynRecv TCPACKSkippedPAWS TCPACKSkippedSeq TCPACKSkippedFinWait2 TCPACKSkippedTimeWait TCPACKSkippedChallenge TCPWinProbe TCPKeepAlive TCPMTUPFail TCPMTUPSuccess TCPDelivered TCPDeliveredCE TCPAckCompressed TCPZeroWindowDrop TCPRcvQDrop TCPWqueueTooBig TCPFastOpenPassiveAltKey TcpTimeoutRehash TcpDuplicateDataRehash TCPDSACKRecvSegs TCPDSACKIgnoredDubious TCPMigrateReqSuccess TCPMigrateReqFailure TCPPLBRehash TCPAORequired TCPAOBad TCPAOKeyNotFound TCPAOGood TCPAODroppedIcmps
TcpExt: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets OutOctets InMcastOctets OutMcastOctets InBcastOctets OutBcastOctets InCsumErrors InNoECTPkts InECT1Pkts InECT0Pkts InCEPkts ReasmOverlaps
IpExt: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
MPTcpExt: MPCapableSYNRX MPCapableSYNTX MPCapableSYNACKRX MPCapableACKRX MPCapableFallbackACK MPCapableFallbackSYNACK MPCapableSYNTXDrop MPCapableSYNTXDisabled MPCapableEndpAttempt MPFallbackTokenInit MPTCPRetrans MPJoinNoTokenFound MPJoinSynRx MPJoinSynBackupRx MPJoinSynAckRx MPJoinSynAckBackupRx MPJoinSynAckHMacFailure MPJoinAckRx MPJoinAckHMacFailure MPJoinRejected MPJoinSynTx MPJoinSynTxCreatSkErr MPJoinSynTxBindErr MPJoinSynTxConnectErr DSSNotMatching DSSCorruptionFallback DSSCorruptionReset InfiniteMapTx InfiniteMapRx DSSNoMatchTCP DataCsumErr OFOQueueTail OFOQueue OFOMerge NoDSSInWindow DuplicateData AddAddr AddAddrTx AddAddrTxDrop EchoAdd EchoAddTx EchoAddTxDrop PortAdd AddAddrDrop MPJoinPortSynRx MPJoinPortSynAckRx MPJoinPortAckRx MismatchPortSynRx MismatchPortAckRx RmAddr RmAddrDrop RmAddrTx RmAddrTxDrop RmSubflow MPPrioTx MPPrioRx MPFailTx MPFailRx MPFastcloseTx MPFastcloseRx MPRstTx MPRstRx SubflowStale SubflowRecover SndWndShared RcvWndShared RcvWndConflictUpdate RcvWndConflict MPCurrEstab Blackhole MPCapableDataFallback MD5SigFallback DssFallback SimultConnectFallback FallbackFailed WinProbe
MPTcpExt: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
`;

// /proc/net/netstat after the run: one SYN retransmission
const NETSTAT_AFTER = `TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts PruneCalled RcvPruned OfoPruned OutOfWindowIcmps LockDroppedIcmps ArpFilter TW TWRecycled TWKilled PAWSActive PAWSEstab BeyondWindow TSEcrRejected PAWSOldAck PAWSTimewait DelayedACKs DelayedACKLocked DelayedACKLost ListenOverflows ListenDrops TCPHPHits TCPPureAcks TCPHPAcks TCPRenoRecovery TCPSackRecovery TCPSACKReneging TCPSACKReorder TCPRenoReorder TCPTSReorder TCPFullUndo TCPPartialUndo TCPDSACKUndo TCPLossUndo TCPLostRetransmit TCPRenoFailures TCPSackFailures TCPLossFailures TCPFastRetrans TCPSlowStartRetrans TCPTimeouts TCPLossProbes TCPLossProbeRecovery TCPRenoRecoveryFail TCPSackRecoveryFail TCPRcvCollapsed TCPBacklogCoalesce TCPDSACKOldSent TCPDSACKOfoSent TCPDSACKRecv TCPDSACKOfoRecv TCPAbortOnData TCPAbortOnClose TCPAbortOnMemory TCPAbortOnTimeout TCPAbortOnLinger TCPAbortFailed TCPMemoryPressures TCPMemoryPressuresChrono TCPSACKDiscard TCPDSACKIgnoredOld TCPDSACKIgnoredNoUndo TCPSpuriousRTOs TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure TCPSackShifted TCPSackMerged TCPSackShiftFallback TCPBacklogDrop PFMemallocDrop TCPMinTTLDrop TCPDeferAcceptDrop IPReversePathFilter TCPTimeWaitOverflow TCPReqQFullDoCookies TCPReqQFullDrop TCPRetransFail TCPRcvCoalesce TCPOFOQueue TCPOFODrop TCPOFOMerge TCPChallengeACK TCPSYNChallenge TCPFastOpenActive TCPFastOpenActiveFail TCPFastOpenPassive TCPFastOpenPassiveFail TCPFastOpenListenOverflow TCPFastOpenCookieReqd TCPFastOpenBlackhole TCPSpuriousRtxHostQueues BusyPollRxPackets TCPAutoCorking TCPFromZeroWindowAdv TCPToZeroWindowAdv TCPWantZeroWindowAdv TCPSynRetrans TCPOrigDataSent TCPHystartTrainDetect TCPHystartTrainCwnd TCPHystartDelayDetect TCPHystartDelayCwnd TCPACKSkippedSynRecv TCPACKSkippedPAWS TCPACKSkippedSeq TCPACKSkippedFinWait2 TCPACKSkippedTimeWait TCPACKSkippedChallenge TCPWinProbe TCPKeepAlive TCPMTUPFail TCPMTUPSuccess TCPDelivered TCPDeliveredCE TCPAckCompressed TCPZeroWindowDrop TCPRcvQDrop TCPWqueueTooBig TCPFastOpenPassiveAltKey TcpTimeoutRehash TcpDuplicateDataRehash TCPDSACKRecvSegs TCPDSACKIgnoredDubious TCPMigrateReqSuccess TCPMigrateReqFailure TCPPLBRehash TCPAORequired TCPAOBad TCPAOKeyNotFound TCPAOGood TCPAODroppedIcmps
TcpExt: 0 0 0 0 0 0 0 0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 3 2 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 5 0 0 0 0 0 0 0 0 0 0 0 0 0 0 6 0 0 0 0 0 0 1 0 0 0 0 0 0 0 0 0 0 0
IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets OutOctets InMcastOctets OutMcastOctets InBcastOctets OutBcastOctets InCsumErrors InNoECTPkts InECT1Pkts InECT0Pkts InCEPkts ReasmOverlaps
IpExt: 0 0 0 0 0 0 2728 2728 0 0 0 0 0 14 0 0 0 0
MPTcpExt: MPCapableSYNRX MPCapableSYNTX MPCapableSYNACKRX MPCapableACKRX MPCapableFallbackACK MPCapableFallbackSYNACK MPCapableSYNTXDrop MPCapableSYNTXDisabled MPCapableEndpAttempt MPFallbackTokenInit MPTCPRetrans MPJoinNoTokenFound MPJoinSynRx MPJoinSynBackupRx MPJoinSynAckRx MPJoinSynAckBackupRx MPJoinSynAckHMacFailure MPJoinAckRx MPJoinAckHMacFailure MPJoinRejected MPJoinSynTx MPJoinSynTxCreatSkErr MPJoinSynTxBindErr MPJoinSynTxConnectErr DSSNotMatching DSSCorruptionFallback DSSCorruptionReset InfiniteMapTx InfiniteMapRx DSSNoMatchTCP DataCsumErr OFOQueueTail OFOQueue OFOMerge NoDSSInWindow DuplicateData AddAddr AddAddrTx AddAddrTxDrop EchoAdd EchoAddTx EchoAddTxDrop PortAdd AddAddrDrop MPJoinPortSynRx MPJoinPortSynAckRx MPJoinPortAckRx MismatchPortSynRx MismatchPortAckRx RmAddr RmAddrDrop RmAddrTx RmAddrTxDrop RmSubflow MPPrioTx MPPrioRx MPFailTx MPFailRx MPFastcloseTx MPFastcloseRx MPRstTx MPRstRx SubflowStale SubflowRecover SndWndShared RcvWndShared RcvWndConflictUpdate RcvWndConflict MPCurrEstab Blackhole MPCapableDataFallback MD5SigFallback DssFallback SimultConnectFallback FallbackFailed WinProbe
MPTcpExt: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
`;

// /proc/net/snmp after the run (note Tcp MaxConn -1)
const SNMP_AFTER = `Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits
Ip: 2 64 14 0 0 0 0 0 12 14 0 0 0 0 0 0 0 0 0 14
Icmp: InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs InRedirects InEchos InEchoReps InTimestamps InTimestampReps InAddrMasks InAddrMaskReps OutMsgs OutErrors OutRateLimitGlobal OutRateLimitHost OutDestUnreachs OutTimeExcds OutParmProbs OutSrcQuenchs OutRedirects OutEchos OutEchoReps OutTimestamps OutTimestampReps OutAddrMasks OutAddrMaskReps
Icmp: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 2 1 0 0 0 12 13 1 0 0 0
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 0 0 0 0 0 0 0 0 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 0 0 0 0 0 0 0 0 0
`;

// conntrack -S after the run (tab after the cpu field, trailing space)
const CONNTRACK_S = `cpu=0   \tfound=0 invalid=0 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0 clash_resolve=0 chaintoolong=0 
cpu=1   \tfound=0 invalid=0 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0 clash_resolve=0 chaintoolong=0 
`;

describe('parseNetstat', () => {
  it('reads every TcpExt, IpExt and MPTcpExt counter', () => {
    const c = parseNetstat(NETSTAT_AFTER);
    expect(Object.keys(c).filter((k) => k.startsWith('TcpExt.'))).toHaveLength(135);
    expect(Object.keys(c).filter((k) => k.startsWith('IpExt.'))).toHaveLength(18);
    expect(Object.keys(c).filter((k) => k.startsWith('MPTcpExt.'))).toHaveLength(76);
    expect(c['TcpExt.TCPSynRetrans']).toBe(1);
    expect(c['TcpExt.TCPTimeouts']).toBe(1);
    expect(c['TcpExt.TW']).toBe(1);
    expect(c['TcpExt.TCPDelivered']).toBe(6);
    expect(c['TcpExt.ListenDrops']).toBe(0);
    expect(c['IpExt.InOctets']).toBe(2728);
    expect(c['TcpExt.TCPAODroppedIcmps']).toBe(0); // last column
  });

  it('is all zeros in a fresh namespace', () => {
    expect(Object.values(parseNetstat(NETSTAT_BEFORE)).every((v) => v === 0)).toBe(true);
  });

  it('reads /proc/net/snmp, including negative values', () => {
    const c = parseNetstat(SNMP_AFTER);
    expect(c['Tcp.MaxConn']).toBe(-1);
    expect(c['Tcp.RtoMax']).toBe(120000);
    expect(c['Tcp.ActiveOpens']).toBe(2);
    expect(c['Tcp.OutSegs']).toBe(13);
    expect(c['Tcp.RetransSegs']).toBe(1); // the SYN retransmission
    expect(c['Ip.DefaultTTL']).toBe(64);
    expect(c['UdpLite.MemErrors']).toBe(0);
  });

  it('refuses a values line that does not match its names', () => {
    expect(() => parseNetstat('TcpExt: A B C\nTcpExt: 1 2\n')).toThrow('TcpExt: 3 counter names but 2 values');
  });
});

describe('parseConntrackStats', () => {
  it('reads the real output of a quiet namespace', () => {
    expect(parseConntrackStats(CONNTRACK_S)).toEqual({ drop: 0, insertFailed: 0, earlyDrop: 0, searchRestart: 0 });
  });

  it('sums over CPUs (the real lines with counts edited in)', () => {
    const edited = CONNTRACK_S.replace('cpu=0   \tfound=0 invalid=0 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0', 'cpu=0   \tfound=0 invalid=0 insert=0 insert_failed=2 drop=5 early_drop=1 error=0 search_restart=7')
      .replace('cpu=1   \tfound=0 invalid=0 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0', 'cpu=1   \tfound=0 invalid=0 insert=0 insert_failed=3 drop=4 early_drop=0 error=0 search_restart=1');
    expect(parseConntrackStats(edited)).toEqual({ drop: 9, insertFailed: 5, earlyDrop: 1, searchRestart: 8 });
  });

  it('leaves searchRestart out when the kernel does not report it', () => {
    const old = CONNTRACK_S.replace(/ search_restart=\d+/g, '');
    expect(parseConntrackStats(old)).toEqual({ drop: 0, insertFailed: 0, earlyDrop: 0 });
  });

  it('fails when there are no per-CPU lines', () => {
    expect(() => parseConntrackStats('')).toThrow(/no "cpu=" lines/);
  });
});

describe('validityReasons', () => {
  const snapshot = (netstat: string, conntrack: string): CounterSnapshot => {
    const n = parseNetstat(netstat);
    const ct = parseConntrackStats(conntrack);
    return {
      synRetrans: n['TcpExt.TCPSynRetrans']!,
      listenDrops: n['TcpExt.ListenDrops']!,
      ctDrop: ct.drop,
      ctInsertFailed: ct.insertFailed,
      ctEarlyDrop: ct.earlyDrop,
    };
  };

  it('flags the recorded SYN retransmission', () => {
    expect(validityReasons(snapshot(NETSTAT_BEFORE, CONNTRACK_S), snapshot(NETSTAT_AFTER, CONNTRACK_S))).toEqual([
      '1 SYN retransmission (TcpExt.TCPSynRetrans)',
    ]);
  });

  it('is empty when nothing moved', () => {
    const s = snapshot(NETSTAT_AFTER, CONNTRACK_S);
    expect(validityReasons(s, s)).toEqual([]);
  });

  it('names every counter that moved', () => {
    const before: CounterSnapshot = { synRetrans: 10, listenDrops: 0, ctDrop: 0, ctInsertFailed: 1, ctEarlyDrop: 0 };
    const after: CounterSnapshot = { synRetrans: 13, listenDrops: 2, ctDrop: 5, ctInsertFailed: 3, ctEarlyDrop: 4 };
    expect(validityReasons(before, after)).toEqual([
      '3 SYN retransmissions (TcpExt.TCPSynRetrans)',
      'listen queue drops: 2 (TcpExt.ListenDrops; accept backlog full?)',
      'conntrack drops: 5 (table full?)',
      'conntrack insert failures: 2 (NAT tuple clash?)',
      'conntrack early drops: 4 (table full, entries evicted)',
    ]);
  });

  it('flags segments the receiver dropped for a bad checksum (a datapath that corrupts what it rewrites)', () => {
    const before: CounterSnapshot = { synRetrans: 0, listenDrops: 0, csumErrors: 7, ctDrop: 0, ctInsertFailed: 0, ctEarlyDrop: 0 };
    expect(validityReasons(before, { ...before, csumErrors: 457 })).toEqual([
      '450 TCP segments with a bad checksum dropped by the receiver (Tcp.InCsumErrors)',
    ]);
    expect(validityReasons(before, { ...before, csumErrors: 8 })).toEqual(['1 TCP segment with a bad checksum dropped by the receiver (Tcp.InCsumErrors)']);
    expect(validityReasons(before, before)).toEqual([]);
  });

  it('reads Tcp.InCsumErrors from /proc/net/snmp with the same parser', () => {
    const snmp = 'Tcp: RtoAlgorithm RtoMin InSegs InErrs InCsumErrors\nTcp: 1 200 518 450 450\n';
    expect(parseNetstat(snmp)['Tcp.InCsumErrors']).toBe(450);
    // the sampler reads both files with one `cat`: the groups' prefixes do not overlap
    const both = parseNetstat(`${NETSTAT_AFTER}\n${snmp}`);
    expect(both['Tcp.InCsumErrors']).toBe(450);
    expect(both['TcpExt.TCPSynRetrans']).toBe(parseNetstat(NETSTAT_AFTER)['TcpExt.TCPSynRetrans']);
  });

  it('ignores listenDrops unless both snapshots have it', () => {
    const before: CounterSnapshot = { synRetrans: 0, ctDrop: 0, ctInsertFailed: 0, ctEarlyDrop: 0 };
    expect(validityReasons(before, { ...before, listenDrops: 9 })).toEqual([]);
  });

  it('reports counters that went backwards instead of a negative count', () => {
    const before: CounterSnapshot = { synRetrans: 5, ctDrop: 0, ctInsertFailed: 0, ctEarlyDrop: 0 };
    expect(validityReasons(before, { ...before, synRetrans: 0 })).toEqual([
      'TcpExt.TCPSynRetrans went backwards (5 → 0): snapshots from different namespaces?',
    ]);
  });
});
