// Names q itself defines, offered by the editor's completion. The keywords are q-mode.js's
// (the reference card's: qSQL, control words and the q namespace); these are the system
// namespaces' documented names (code.kx.com: .z environment and callbacks, .Q utilities, .h markup).
const names = (prefix, text) => text.trim().split(/\s+/).map((name) => `${prefix}${name}`);

export const DOT_Z = names(".z.", `
a ac b bm c d D e ex exit ey f h H i k K l n N o p P pc pd pg ph pi pm po pp pq ps pw q r s t T
ts u vs w W wc wo ws x X z Z zd`);

export const DOT_Q = names(".Q.", `
a A addmonths addr an b6 bt btoa bv Cf chk cn D dd def dpft dpfts dpt dpts dsftg en ens f fc
ff fk fmt fpn fps fs fsn fu gc gz hdpf hg host hp id ind j10 j12 k l M MAP n nA opt P par
pd PD pf pn prf0 pt pv PV qp qt res s sbt sha1 t trp ts ty u v V view vp w x x10 x12 Xf`);

export const DOT_H = names(".h.", `
br c0 c1 cd code d ed edsn fram ha hb hc he hn HOME hp hr ht hta htac htc html http hu hug hy
iso8601 jx logo nbr pre sa sb sc td text tx ty uh val xd xmp xs xt`);
