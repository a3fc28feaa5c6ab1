/ lib/analytics.q: small analytics library loaded by init.q.
\d .analytics

/ volume-weighted average price of prices p and sizes s
vwap:{[p;s] s wsum p % sum s}

/ simple moving average of x over the last n observations
sma:{[n;x] n mavg x}

/ one row per symbol: last price, vwap and the moving average over the lookback
summary:{[t] select last price, vwap:vwap[price;size], sma:last sma[lookback;price] by sym from t}

\d .
