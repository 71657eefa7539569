/*
 * A training health monitor: it watches the numbers of each iteration and
 * says in plain words when a run is going wrong, which is the hardest part
 * of training a GAN for someone new to it.
 *
 * Every threshold here is a heuristic, chosen from what failing DC-GAN
 * runs usually look like, not a law: a warning means "look at the samples
 * now", not "this run is lost".
 */
#ifndef DCGAN_HEALTH_H
#define DCGAN_HEALTH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dcgan.h"

/* D(G(z)) below this, before D's step, means D rejects every fake. */
#define HEALTH_D_WON_BELOW 0.05f
/* ...for this many iterations in a row. */
#define HEALTH_D_WON_STEPS 200
/* The spread of the fixed-noise samples below this share of its first
 * value means G makes (almost) the same image for every z. */
#define HEALTH_COLLAPSE_RATIO 0.2

typedef struct health {
    FILE *out;
    /* Iterations in a row with D(G(z)) < HEALTH_D_WON_BELOW. */
    int64_t d_won_run;
    bool d_won_said;
    /* Spread of the first sample grid, and whether collapse was said. */
    double first_spread;
    bool collapse_said;
} health;

void health_init(health *h, FILE *out);

/*
 * Look at one iteration's numbers. Returns false when the run cannot go
 * on (a loss is NaN or infinite); the message then names the first layer
 * of G or D that holds a non-finite value.
 */
bool health_check_step(health *h, const dcgan *gan, const dcgan_step_stats *s,
                       int64_t step);

/*
 * Say that an iteration was refused because a loss or a gradient was NaN
 * or infinite (message is the library's), and where the first non-finite
 * value of G and D is, if any.
 */
void health_report_nonfinite(health *h, const dcgan *gan, const char *message,
                             int64_t step);

/*
 * Look at a batch of samples from the fixed noise (N, C, H, W): their
 * spread is the mean over pixels of the standard deviation across the
 * batch. Call it once per epoch.
 */
void health_check_samples(health *h, const ganet_tensor *samples,
                          int64_t epoch);

/* The spread of a batch of samples, as health_check_samples() uses it. */
double health_sample_spread(const ganet_tensor *samples);

#endif
