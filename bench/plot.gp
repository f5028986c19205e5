# Plots of a shmring-bench run: gnuplot -e "dir='build/bench'" bench/plot.gp
#   tp_spsc.png tp_mpsc.png tp_mpmc.png   throughput against element size
#   latency.png                           round-trip latency distribution
# The .dat files hold one block per transport, its label on the first line.
# Twelve distinct line types, shmring's first.
if (!exists("dir")) dir = "build/bench"

set terminal pngcairo size 1200,520 font ",10" noenhanced
colours = "#1f77b4 #2ca02c #17becf #9467bd #d62728 #ff7f0e #8c564b #e377c2 #7f7f7f #bcbd22 #000000 #aec7e8"
do for [i=1:12] {
	set linetype i lc rgb word(colours, i) pt (i % 7) + 1 dt 1 + (i > 4)
}
set grid
set key outside right top
set logscale x 2
set xtics ("8" 8, "64" 64, "256" 256, "1k" 1024, "" 1472, "4k" 4096)
set xrange [6:5600]
set xlabel "element size, bytes"

do for [pol in "spsc mpsc mpmc"] {
	f = sprintf("%s/plot_tp_%s.dat", dir, pol)
	stats f using 0 nooutput
	set output sprintf("%s/tp_%s.png", dir, pol)
	set multiplot layout 1,2 title sprintf("%s throughput, capacity 1024 (median of the run's repetitions)", pol)
	set logscale y
	set ylabel "million messages / s"
	unset key
	plot for [i=0:STATS_blocks-1] f index i using 1:2 with linespoints lt i + 1 lw 2 title columnheader(1)
	set ylabel "GB / s"
	set key outside right top
	plot for [i=0:STATS_blocks-1] f index i using 1:3 with linespoints lt i + 1 lw 2 title columnheader(1)
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
set xtics ("min" 1, "50%%" 2, "90%%" 10, "99%%" 100, "99.9%%" 1000, "99.99%%" 10000, "99.999%%" 100000)
set xrange [1:150000]
plot for [i=0:STATS_blocks-1] f index i using (1/(1-$1)):2 with linespoints lt i + 1 lw 2 title columnheader(1)
