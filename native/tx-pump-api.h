/*
 * What another addon (the receive loop, rx-loop.c) may call of the upload pump
 * (tx-pump.c), handed over as an External by `pumpApi()`: `credit(pump, n)`, where the
 * pump is the External `pumpStart` returned. Main thread only.
 */
#ifndef BURROW_TX_PUMP_API_H
#define BURROW_TX_PUMP_API_H
#include <stdint.h>
#define TX_PUMP_API_VERSION 1
typedef struct {
  int version;
  void (*credit)(void *pump, int64_t n);
} TxPumpApi;
#endif
