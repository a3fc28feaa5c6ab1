/ init.q: what every node of the cluster runs at start-up.
/ Deployment arguments arrive as -key value; .Q.def types them and supplies defaults.
args:.Q.def[`region`lookback!(`emea;30)] .Q.opt .z.x;

\l lib/analytics.q

.analytics.region:args`region;
.analytics.lookback:args`lookback;
