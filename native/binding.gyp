{
  "targets": [
    { "target_name": "malloc_tune", "sources": ["malloc-tune.c"] },
    { "target_name": "sendv", "sources": ["sendv.c"] },
    { "target_name": "rx_loop", "sources": ["rx-loop.c"] },
    { "target_name": "tx_seal", "sources": ["tx-seal.c", "tx-packets.c", "tx-pump.c"] }
  ]
}
