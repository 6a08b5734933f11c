/* The knapsack of quantize --target-bpw: each item (tensor) takes one of
 * its candidates (types); minimize the summed cost under a bit budget.
 * Greedy on the lower convex hull of every item's (bits, cost) points:
 * start each item at its smallest candidate, then repeatedly take the hull
 * step of best cost saved per bit that still fits. On the hulls this is
 * the Lagrangian solution (exact for the continuous relaxation); what is
 * left of the budget is then offered to single upgrades off the hull. */
#include <stdlib.h>

#include "quantize/alloc.h"

/* Hull of item IT: indices of candidates in increasing bits with strictly
 * decreasing cost and decreasing savings per bit. Returns the count. */
static int hull(const mb_alloc_item *it, int *h) {
    int order[MB_ALLOC_MAX_CAND], n = 0;
    for (int c = 0; c < it->n_cand; c++) { /* insertion sort by bits, then cost */
        int k = n++;
        while (k > 0 &&
               (it->bits[order[k - 1]] > it->bits[c] ||
                (it->bits[order[k - 1]] == it->bits[c] && it->cost[order[k - 1]] > it->cost[c]))) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = c;
    }
    int m = 0;
    for (int k = 0; k < n; k++) {
        const int c = order[k];
        if (m > 0 && (it->bits[c] == it->bits[h[m - 1]] || it->cost[c] >= it->cost[h[m - 1]]))
            continue; /* no cheaper in cost for more bits: never worth it */
        /* drop the last point while it lies on or above the segment to C */
        while (m >= 2) {
            const int a = h[m - 2], b = h[m - 1];
            const double s_ab = (it->cost[a] - it->cost[b]) / (double)(it->bits[b] - it->bits[a]);
            const double s_bc = (it->cost[b] - it->cost[c]) / (double)(it->bits[c] - it->bits[b]);
            if (s_bc < s_ab) break;
            m--;
        }
        h[m++] = c;
    }
    return m;
}

int mb_alloc_solve(const mb_alloc_item *items, int n, uint64_t budget, int *choice) {
    int *hulls = malloc(sizeof *hulls * (size_t)(n > 0 ? n : 1) * MB_ALLOC_MAX_CAND);
    int *n_hull = malloc(sizeof *n_hull * (size_t)(n > 0 ? n : 1));
    int *at = malloc(sizeof *at * (size_t)(n > 0 ? n : 1));
    if (!hulls || !n_hull || !at) {
        free(hulls);
        free(n_hull);
        free(at);
        return -2;
    }
    uint64_t used = 0;
    for (int i = 0; i < n; i++) {
        n_hull[i] = hull(&items[i], hulls + (size_t)i * MB_ALLOC_MAX_CAND);
        at[i] = 0;
        choice[i] = hulls[(size_t)i * MB_ALLOC_MAX_CAND];
        used += items[i].bits[choice[i]];
    }
    const int fits = used <= budget;
    while (fits) { /* best hull step that fits */
        int best = -1;
        double best_rate = 0;
        for (int i = 0; i < n; i++) {
            if (at[i] + 1 >= n_hull[i]) continue;
            const int *h = hulls + (size_t)i * MB_ALLOC_MAX_CAND;
            const uint64_t db = items[i].bits[h[at[i] + 1]] - items[i].bits[h[at[i]]];
            if (used + db > budget) continue;
            const double rate =
                (items[i].cost[h[at[i]]] - items[i].cost[h[at[i] + 1]]) / (double)db;
            if (best < 0 || rate > best_rate) best = i, best_rate = rate;
        }
        if (best < 0) break;
        const int *h = hulls + (size_t)best * MB_ALLOC_MAX_CAND;
        used += items[best].bits[h[at[best] + 1]] - items[best].bits[h[at[best]]];
        choice[best] = h[++at[best]];
    }
    while (fits) { /* leftover: the best single change off the hull that fits */
        int best = -1, best_c = 0;
        double best_gain = 0;
        for (int i = 0; i < n; i++)
            for (int c = 0; c < items[i].n_cand; c++) {
                const uint64_t b0 = items[i].bits[choice[i]], b1 = items[i].bits[c];
                const double gain = items[i].cost[choice[i]] - items[i].cost[c];
                if (gain > best_gain && used - b0 + b1 <= budget)
                    best = i, best_c = c, best_gain = gain;
            }
        if (best < 0) break;
        used = used - items[best].bits[choice[best]] + items[best].bits[best_c];
        choice[best] = best_c;
    }
    free(hulls);
    free(n_hull);
    free(at);
    return fits ? 0 : -1;
}
