# Plots of a shmring-bench run: gnuplot -e "dir='build/bench'" bench/plot.gp
#   tp_spsc.png tp_mpsc.png tp_mpmc.png   throughput against element size
#   latency.png                           round-trip latency distribution
# The .dat files hold one block per transport, its label on the first line.
if (!exists("dir")) dir = "build/bench"

set terminal pngcairo size 1200,520 font ",10" noenhanced
set grid
set key outside right top
set logscale x 2
set xtics ("8" 8, "64" 64, "256" 256, "1k" 1024, "" 1472, "4k" 4096)
set xlabel "element size, bytes"

do for [pol in "spsc mpsc mpmc"] {
	f = sprintf("%s/plot_tp_%s.dat", dir, pol)
	stats f using 0 nooutput
	set output sprintf("%s/tp_%s.png", dir, pol)
	set multiplot layout 1,2 title sprintf("%s throughput, capacity 1024 (median of the run's repetitions)", pol)
	set logscale y
	set ylabel "million messages / s"
	unset key
	plot for [i=0:STATS_blocks-1] f index i using 1:2 with linespoints lw 2 title columnheader(1)
	set ylabel "GB / s"
	set key outside right top
	plot for [i=0:STATS_blocks-1] f index i using 1:3 with linespoints lw 2 title columnheader(1)
	unset multiplot
	unset logscale y
}

# Latency against percentile; x is 1 / (1 - p), so the tail gets room.
f = dir . "/plot_latency.dat"
stats f using 0 nooutput
set output dir . "/latency.png"
set title "round trip, spsc 64 B (one repetition's samples)"
set logscale xy
set xlabel "percentile"
set ylabel "round trip, ns"
set xtics ("0%%" 1, "50%%" 2, "90%%" 10, "99%%" 100, "99.9%%" 1000, "99.99%%" 10000, "99.999%%" 100000)
plot for [i=0:STATS_blocks-1] f index i using (1/(1-$1)):2 with linespoints lw 2 title columnheader(1)
