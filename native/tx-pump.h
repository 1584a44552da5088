/* A local socket read and sent as sealed CHANNEL_DATA in native code: see tx-pump.c. */
#ifndef BURROW_TX_PUMP_H
#define BURROW_TX_PUMP_H
#include <node_api.h>

#include "tx-pump-api.h"

/* Adds pumpStart, pumpKey, pumpCredit, pumpResume, pumpStop and pumpApi to `exports`. */
void tx_pump_exports(napi_env env, napi_value exports);
#endif
